"""The storage servers the remote tests and the fan-out bench run on 127.0.0.1: Node's @tus/server
with @tus/file-store (tests/tus/server.mjs, shaped like Supabase's resumable endpoint) and moto's
S3 server. Each is a context manager that starts the server and stops it, however the body ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TUS_SERVER = ROOT / "tests" / "tus" / "server.mjs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tus_installed() -> bool:
    return (ROOT / "tests" / "tus" / "node_modules" / "@tus" / "server").is_dir()


@contextmanager
def tus_server(store: Path, key: str, *extra: str) -> Iterator[str]:
    """server.mjs storing into `store` (`extra`: its further arguments, e.g. a bucket list), its
    service key `key`; yields its base URL."""
    proc = subprocess.Popen(
        ["node", str(TUS_SERVER), str(store), *extra],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TUS_TEST_KEY": key},
    )
    try:
        assert proc.stdout is not None
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@contextmanager
def s3_server(*buckets: str, secret: str = "test-secret-key") -> Iterator[tuple[Any, dict[str, str]]]:
    """moto's S3 server with `buckets` made; yields a boto3 client and the worker's BUCKET_* env."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "BUCKET_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "BUCKET_ACCESS_KEY_ID": "test",
        "BUCKET_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        client = boto3.client(
            "s3",
            endpoint_url=env["BUCKET_ENDPOINT_URL"],
            aws_access_key_id="test",
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield client, env
    finally:
        server.stop()
