"""Where the video goes, attacked: object names, redirects, upsert, resumes, gateway errors, limits.

Supabase Storage is tests/tus/server.mjs (a real TUS server shaped like Storage v1 behind its gateway,
with switches a test flips at /__control); S3 is moto's server; both on 127.0.0.1. Tiny recording
servers stand in where the exact request matters (its raw path, or where a redirect would lead).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import os
import re
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from servers import s3_server, tus_installed, tus_server

import vgen.remote.worker.upload as up
from vgen.errors import VgenError
from vgen.remote.client import ClientError, Storage
from vgen.remote.worker.job import JobError, OutputTarget, parse_job
from vgen.remote.worker.upload import UploadError, signed_url, tus_upload, upload

ROOT = Path(__file__).resolve().parents[2]
KEY = "service-role-key-for-storage-tests"
MiB = 1024 * 1024
BUCKETS = {
    "videos": {},
    "private-docs": {},
    "small": {"file_size_limit": 1_000_000},
    "roomy": {"file_size_limit": 5_000_000},
    "images": {"allowed_mime_types": ["image/png", "image/jpeg"]},
    "clips": {"allowed_mime_types": ["image/png", "video/*"]},
}


def one_line_without_key(exc: BaseException) -> str:
    """Every error vgen produces here: one line, never the key."""
    text = str(exc)
    assert KEY not in text and "\n" not in text, text
    return text


# --- servers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tus(tmp_path_factory):
    """server.mjs with a bucket list; yields (base URL, store folder, control(**switches))."""
    if not tus_installed():
        pytest.fail("run `make setup` first: tests/tus needs `npm install` (the Makefile does it)")
    store = tmp_path_factory.mktemp("tus-store")
    buckets = tmp_path_factory.mktemp("tus-conf") / "buckets.json"
    buckets.write_text(json.dumps(BUCKETS))
    with tus_server(store, KEY, str(buckets)) as base:

        def control(**switches) -> None:
            req = urllib.request.Request(f"{base}/__control", data=json.dumps(switches).encode(), method="POST")
            urllib.request.urlopen(req, timeout=10).close()

        yield base, store, control


@pytest.fixture
def supabase(tus, monkeypatch):
    """The worker's environment pointed at server.mjs, its switches reset after each test, retries fast."""
    base, store, control = tus
    for k, v in {
        "SUPABASE_URL": base,
        "SUPABASE_SERVICE_ROLE_KEY": KEY,
        "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        "RUNPOD_SKIP_GPU_CHECK": "true",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(up, "RETRY_BASE_S", 0.01, raising=False)
    yield base, store, control
    control(fail=[], stripPrefix=False, globalLimit=0, redirect=None)


def stored(store: Path, bucket: str, name: str) -> Path:
    return store / f"{bucket}/{name}".replace("/", "__")


class Recorder:
    """An HTTP server on 127.0.0.1 that records each request (method, raw path, headers) and answers
    with `answer(handler)` -> (status, headers, body)."""

    def __init__(self, answer=None) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.answer = answer or (lambda h: (200, {"Content-Type": "application/json"}, b"{}"))
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else b""
                rec.requests.append((self.command, self.path, dict(self.headers.items())))
                status, headers, body = rec.answer(self)
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_PATCH = do_PUT = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def recorder():
    made: list[Recorder] = []

    def make(answer=None) -> Recorder:
        made.append(Recorder(answer))
        return made[-1]

    yield make
    for r in made:
        r.close()


def decode_uri(s: str) -> str:
    """JavaScript's decodeURI: escapes of ; / ? : @ & = + $ , # stay as they are."""
    return urllib.parse.unquote(re.sub(r"%(2[346BCF]|3[ABDF]|40)", r"%25\1", s, flags=re.IGNORECASE))


def sign_like_storage(h) -> tuple[int, dict, bytes]:
    """Storage's sign answer: the request's path, decoded, raw (decodeURI), with a token."""
    if h.command == "HEAD":
        return 404, {}, b""
    name = h.path.split("/object/sign/", 1)[1] if "/object/sign/" in h.path else "x"
    body = json.dumps({"signedURL": f"/object/sign/{decode_uri(name)}?token=t"}).encode()
    return 200, {"Content-Type": "application/json"}, body


def put_file(tmp_path: Path, size: int, name: str = "video.mp4") -> Path:
    f = tmp_path / name
    f.write_bytes(os.urandom(size))
    return f


def target(path: str, bucket: str = "videos", **over) -> OutputTarget:
    return OutputTarget(bucket=bucket, path=path, **over)


# --- 1: object names name exactly one object -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/private-docs/payroll.pdf",
        "%2E%2E/x.mp4",
        "ep%20x.mp4",
        "a?b.mp4",
        "a#b.mp4",
        "a\x00b.mp4",
        "a\nb.mp4",
        "a\x7fb.mp4",
        "ep/../x.mp4",
        "/abs.mp4",
        "dir/",
    ],
)
def test_output_paths_that_could_name_another_object_are_refused(path):
    raw = {"spec": {}, "output": {"bucket": "videos", "path": path}}
    with pytest.raises(JobError) as e:
        parse_job(raw)
    assert one_line_without_key(e.value).startswith("input.output.path: ")


def test_plain_output_paths_still_pass():
    for path in ("channel-a/ep-42.mp4", "ep/take 2+final, v1.mp4", "a..b.mp4", "ép/x.mp4"):
        assert OutputTarget(bucket="videos", path=path).path == path


def test_signing_cannot_be_steered_to_another_object(supabase, tmp_path):
    """The review's attack: `%2e%2e/` in the name, normalised by the HTTP client, signed another bucket's
    object. Names are percent-encoded now, so that name is only ever itself (and it does not exist)."""
    base, store, _ = supabase
    secret = put_file(tmp_path, 1000, "payroll.pdf")
    asyncio.run(
        tus_upload(
            secret, base + "/storage/v1/upload/resumable", KEY, "private-docs", "payroll.pdf", True, tmp_path / "s.json"
        )
    )
    assert stored(store, "private-docs", "payroll.pdf").exists()
    with pytest.raises(UploadError) as e:
        asyncio.run(signed_url("videos", "%2e%2e/private-docs/payroll.pdf", 3600))
    assert "HTTP 400" in one_line_without_key(e.value)


def test_worker_storage_requests_send_the_name_percent_encoded(recorder, monkeypatch):
    rec = recorder(sign_like_storage)
    monkeypatch.setenv("SUPABASE_URL", rec.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", KEY)
    url = asyncio.run(signed_url("videos", "dir/a b#1?.mp4", 3600))
    assert rec.requests[-1][1] == "/storage/v1/object/sign/videos/dir/a%20b%231%3F.mp4"
    assert url == f"{rec.url}/storage/v1/object/sign/videos/dir/a%20b%231%3F.mp4?token=t"
    asyncio.run(signed_url("videos", "%2e%2e/private-docs/payroll.pdf", 3600))
    assert rec.requests[-1][1] == "/storage/v1/object/sign/videos/%252e%252e/private-docs/payroll.pdf"


def test_the_clients_storage_requests_send_the_name_percent_encoded(recorder, tmp_path):
    rec = recorder(sign_like_storage)
    storage = Storage(rec.url, KEY)
    name = "sha256/a b#c?d.jpg"
    assert storage.exists("assets", name) is False
    f = put_file(tmp_path, 10, "a.jpg")
    storage.put("assets", name, f)
    url = storage.sign("assets", name, 60)
    paths = [p for _, p, _ in rec.requests]
    assert paths == ["/storage/v1/object/assets/sha256/a%20b%23c%3Fd.jpg"] * 2 + [
        "/storage/v1/object/sign/assets/sha256/a%20b%23c%3Fd.jpg"
    ]
    assert url == f"{rec.url}/storage/v1/object/sign/assets/sha256/a%20b%23c%3Fd.jpg?token=t"
    for bad in ("../x.jpg", "a/./b.jpg", "/abs.jpg", "a//b.jpg", "a\nb.jpg"):
        with pytest.raises(ClientError):
            storage.exists("assets", bad)
    assert len(rec.requests) == 3


# --- 6a: the key never follows a redirect ----------------------------------------------------------


def test_a_redirect_from_storage_never_carries_the_key_elsewhere(supabase, recorder, tmp_path):
    base, _, control = supabase
    elsewhere = recorder()
    to = f"{elsewhere.url}/collect?secret-query=1"
    f = put_file(tmp_path, 1000)
    endpoint = base + "/storage/v1/upload/resumable"
    attempts = {
        "sign": lambda: signed_url("videos", "x.mp4", 3600),
        "tus": lambda: tus_upload(f, endpoint, KEY, "videos", "r.mp4", True, tmp_path / "r.json"),
        "preflight": lambda: up.preflight(target("r.mp4")),
    }
    for what, attempt in attempts.items():
        control(redirect={"to": to, "count": 1})
        with pytest.raises(VgenError) as e:
            asyncio.run(attempt())
        msg = one_line_without_key(e.value)
        assert "307" in msg and elsewhere.url.removeprefix("http://") in msg and "secret-query" not in msg, what
    assert elsewhere.requests == []


def test_the_clients_storage_does_not_follow_redirects_either(recorder, tmp_path):
    elsewhere = recorder()
    rec = recorder(lambda h: (302 if h.command == "HEAD" else 307, {"Location": f"{elsewhere.url}/x?t=1"}, b""))
    storage = Storage(rec.url, KEY)
    for call in (
        lambda: storage.exists("assets", "a.jpg"),
        lambda: storage.sign("assets", "a.jpg", 60),
        lambda: storage.put("assets", "a.jpg", put_file(tmp_path, 10, "a.jpg")),
    ):
        with pytest.raises(ClientError) as e:
            call()
        msg = one_line_without_key(e.value)
        assert "30" in msg and elsewhere.url.removeprefix("http://") in msg and "t=1" not in msg
    assert elsewhere.requests == []


# --- 7: S3 honours upsert: false -----------------------------------------------------------------


@pytest.fixture(scope="module")
def moto():
    with s3_server() as (_, env):
        yield env["BUCKET_ENDPOINT_URL"]


@pytest.fixture
def s3(moto, monkeypatch):
    import boto3

    env = {
        "BUCKET_ENDPOINT_URL": moto,
        "BUCKET_ACCESS_KEY_ID": "test",
        "BUCKET_SECRET_ACCESS_KEY": KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client = boto3.client(
        "s3", endpoint_url=moto, aws_access_key_id="test", aws_secret_access_key=KEY, region_name="us-east-1"
    )
    if "videos" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="videos")
    return client


@pytest.mark.slow
def test_s3_upsert_false_refuses_an_existing_object(s3, tmp_path):
    s3.put_object(Bucket="videos", Key="x.mp4", Body=b"the first video")
    f = put_file(tmp_path, 1000)
    with pytest.raises(UploadError) as e:
        asyncio.run(upload(f, target("x.mp4", target="s3"), tmp_path / "s.json"))
    assert one_line_without_key(e.value) == "videos/x.mp4 exists (upsert: false) (send upsert: true to replace it)"
    assert s3.get_object(Bucket="videos", Key="x.mp4")["Body"].read() == b"the first video"
    asyncio.run(upload(f, target("x.mp4", target="s3", upsert=True), tmp_path / "s.json"))
    assert s3.get_object(Bucket="videos", Key="x.mp4")["Body"].read() == f.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("size", [1000, 9 * MiB], ids=["put", "multipart"])
def test_s3_conditional_write_refuses_what_the_check_missed(s3, tmp_path, monkeypatch, size):
    """Another writer creates the object between the head check and the upload: the write itself is
    conditional (If-None-Match: *), for a single put and for a multipart upload (moto 5 honours both)."""
    name = f"race-{size}.mp4"
    s3.put_object(Bucket="videos", Key=name, Body=b"the other writer")
    monkeypatch.setattr(up, "_s3_exists", lambda *a: False, raising=False)
    f = put_file(tmp_path, size)
    with pytest.raises(UploadError) as e:
        asyncio.run(upload(f, target(name, target="s3"), tmp_path / "s.json"))
    assert f"videos/{name} exists (upsert: false)" in one_line_without_key(e.value)
    assert s3.get_object(Bucket="videos", Key=name)["Body"].read() == b"the other writer"


@pytest.mark.slow
def test_s3_preflight_finds_a_missing_bucket_and_an_existing_object(s3):
    s3.put_object(Bucket="videos", Key="there.mp4", Body=b"x")
    with pytest.raises(UploadError, match="bucket nope-bucket does not exist"):
        asyncio.run(up.preflight(target("a.mp4", bucket="nope-bucket", target="s3")))
    with pytest.raises(UploadError, match=r"videos/there.mp4 exists \(upsert: false\)"):
        asyncio.run(up.preflight(target("there.mp4", target="s3")))
    assert asyncio.run(up.preflight(target("there.mp4", target="s3", upsert=True))).size_limit is None


# --- 8/13: a re-sent job resumes its upload ---------------------------------------------------------


def test_a_resent_job_resumes_though_the_file_was_joined_again(supabase, tmp_path):
    """Same bytes, new mtime (the job re-joined its output): the upload continues after the first chunk."""
    base, store, _ = supabase
    endpoint = base + "/storage/v1/upload/resumable"
    f = put_file(tmp_path, 15 * MiB)
    state = tmp_path / "upload.json"
    assert asyncio.run(tus_upload(f, endpoint, KEY, "videos", "resent.mp4", True, state, max_chunks=1)) == 0
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    resumed = asyncio.run(tus_upload(f, endpoint, KEY, "videos", "resent.mp4", True, state, sha256=digest))
    assert resumed == 6 * MiB
    assert stored(store, "videos", "resent.mp4").read_bytes() == f.read_bytes() and not state.exists()


def test_other_bytes_of_the_same_size_start_over(supabase, tmp_path):
    base, store, _ = supabase
    endpoint = base + "/storage/v1/upload/resumable"
    f = put_file(tmp_path, 13 * MiB)
    state = tmp_path / "upload.json"
    asyncio.run(tus_upload(f, endpoint, KEY, "videos", "changed.mp4", True, state, max_chunks=1))
    f.write_bytes(os.urandom(13 * MiB))
    assert asyncio.run(tus_upload(f, endpoint, KEY, "videos", "changed.mp4", True, state)) == 0
    assert stored(store, "videos", "changed.mp4").read_bytes() == f.read_bytes()


def test_upload_takes_the_callers_sha256_and_resumes(supabase, tmp_path):
    base, store, _ = supabase
    f = put_file(tmp_path, 13 * MiB)
    state = tmp_path / "upload.json"
    endpoint = base + "/storage/v1/upload/resumable"
    asyncio.run(tus_upload(f, endpoint, KEY, "videos", "handler.mp4", True, state, max_chunks=1))
    os.utime(f)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    done = asyncio.run(upload(f, target("handler.mp4", upsert=True), state, sha256=digest))
    assert done.resumed_from == 6 * MiB and done.size_bytes == 13 * MiB
    assert stored(store, "videos", "handler.mp4").read_bytes() == f.read_bytes()


# --- 12: gateway errors are retried -------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before", "after"])
def test_gateway_502s_mid_upload_are_retried(supabase, tmp_path, when):
    """502s from the gateway after the first chunk: "before" the server saw the chunk, or "after" it
    stored it and the answer was lost (the offset is read again with HEAD before sending more)."""
    base, store, control = supabase
    endpoint = base + "/storage/v1/upload/resumable"
    f = put_file(tmp_path, 20 * MiB)
    state = tmp_path / "upload.json"
    name = f"gateway-{when}.mp4"
    asyncio.run(tus_upload(f, endpoint, KEY, "videos", name, True, state, max_chunks=1))
    control(fail=[{"method": "PATCH", "count": 3, "status": 502, "when": when}])
    assert asyncio.run(tus_upload(f, endpoint, KEY, "videos", name, True, state)) == 6 * MiB
    assert stored(store, "videos", name).read_bytes() == f.read_bytes() and not state.exists()


def test_5xx_and_423_on_create_and_head_are_retried(supabase, tmp_path):
    base, store, control = supabase
    endpoint = base + "/storage/v1/upload/resumable"
    f = put_file(tmp_path, 8 * MiB)
    state = tmp_path / "upload.json"
    control(fail=[{"method": "POST", "count": 2, "status": 503}, {"method": "PATCH", "count": 1, "status": 423}])
    asyncio.run(tus_upload(f, endpoint, KEY, "videos", "flaky.mp4", True, state, max_chunks=1))
    control(fail=[{"method": "HEAD", "count": 2, "status": 502}])
    assert asyncio.run(tus_upload(f, endpoint, KEY, "videos", "flaky.mp4", True, state)) == 6 * MiB
    assert stored(store, "videos", "flaky.mp4").read_bytes() == f.read_bytes()


def test_a_gateway_that_stays_down_fails_in_one_line(supabase, tmp_path):
    base, _, control = supabase
    f = put_file(tmp_path, 7 * MiB)
    control(fail=[{"method": "PATCH", "count": 100, "status": 502}])
    with pytest.raises(UploadError) as e:
        asyncio.run(
            tus_upload(f, base + "/storage/v1/upload/resumable", KEY, "videos", "down.mp4", True, tmp_path / "s.json")
        )
    msg = one_line_without_key(e.value)
    assert "videos/down.mp4" in msg and "byte 0" in msg and "HTTP 502" in msg and "resumes" in msg


# --- 14: what can be known before the render ----------------------------------------------------------


def test_preflight_reads_the_buckets_limits(supabase):
    assert asyncio.run(up.preflight(target("ok.mp4"))).size_limit is None
    assert asyncio.run(up.preflight(target("ok.mp4", bucket="small"))).size_limit == 1_000_000
    assert asyncio.run(up.preflight(target("ok.mp4", bucket="clips"))).size_limit is None  # video/* accepted


@pytest.mark.parametrize(
    "bucket, path, words",
    [
        ("nope", "a.mp4", "bucket nope does not exist"),
        ("images", "a.mp4", "bucket images does not accept video/mp4"),
        ("videos", "ep/épisode 1.mp4", "'é'"),
    ],
)
def test_preflight_refuses_what_supabase_would_refuse_after_the_render(supabase, bucket, path, words):
    with pytest.raises(VgenError) as e:
        asyncio.run(up.preflight(target(path, bucket=bucket)))
    msg = one_line_without_key(e.value)
    assert words in msg
    if "é" in path:
        assert msg.startswith("input.output.path: ") and "letters, digits" in msg


def test_the_key_rule_is_the_servers(supabase, tmp_path):
    """What preflight refuses, Storage refuses too (HTTP 400 Invalid key), after the whole render."""
    base, _, _ = supabase
    f = put_file(tmp_path, 100)
    with pytest.raises(UploadError, match="Invalid key"):
        asyncio.run(
            tus_upload(
                f, base + "/storage/v1/upload/resumable", KEY, "videos", "ep/épisode 1.mp4", True, tmp_path / "s.json"
            )
        )


def test_preflight_with_upsert_false_finds_an_existing_object(supabase, tmp_path):
    f = put_file(tmp_path, 1000)
    asyncio.run(upload(f, target("taken.mp4", upsert=True), tmp_path / "s.json"))
    with pytest.raises(UploadError) as e:
        asyncio.run(up.preflight(target("taken.mp4")))
    assert one_line_without_key(e.value) == "videos/taken.mp4 exists (upsert: false) (send upsert: true to replace it)"
    assert asyncio.run(up.preflight(target("not-yet.mp4"))).size_limit is None
    with pytest.raises(UploadError, match=r"exists \(upsert: false\)"):  # the server's 409, if it comes to that
        asyncio.run(upload(f, target("taken.mp4"), tmp_path / "s.json", checked=up.Preflight(size_limit=None)))


def test_a_file_over_the_buckets_limit_is_refused_before_sending(supabase, tmp_path):
    _, store, _ = supabase
    f = put_file(tmp_path, 2_000_000)
    with pytest.raises(UploadError) as e:
        asyncio.run(upload(f, target("big.mp4", bucket="small"), tmp_path / "s.json"))
    msg = one_line_without_key(e.value)
    assert "1000000 bytes (1.0 MB)" in msg and "2000000 bytes" in msg
    assert not stored(store, "small", "big.mp4").exists() and not (tmp_path / "s.json").exists()


def test_a_413_from_the_server_says_the_limit(supabase, tmp_path):
    base, _, control = supabase
    control(globalLimit=1_500_000)  # the server's own FILE_SIZE_LIMIT, below the bucket's
    f = put_file(tmp_path, 2_000_000)
    with pytest.raises(UploadError) as e:
        asyncio.run(upload(f, target("big.mp4", bucket="roomy"), tmp_path / "s.json"))
    msg = one_line_without_key(e.value)
    assert "HTTP 413" in msg and "5000000 bytes (5.0 MB)" in msg and "FILE_SIZE_LIMIT" in msg
    with pytest.raises(UploadError) as e:
        asyncio.run(upload(f, target("big.mp4"), tmp_path / "s.json"))
    assert "HTTP 413" in one_line_without_key(e.value) and "sets none" in str(e.value)


def test_local_preflight(tmp_path, monkeypatch):
    monkeypatch.setenv("VGEN_LOCAL_OUTPUT_DIR", str(tmp_path / "out"))
    assert asyncio.run(up.preflight(target("a/b.mp4", target="local"))).size_limit is None
    assert not (tmp_path / "out").exists()  # checked, not created
    (tmp_path / "out" / "videos").mkdir(parents=True)
    (tmp_path / "out" / "videos" / "there.mp4").write_bytes(b"x")
    with pytest.raises(UploadError, match=r"videos/there.mp4 exists \(upsert: false\)"):
        asyncio.run(up.preflight(target("there.mp4", target="local")))
    (tmp_path / "file").write_bytes(b"x")
    monkeypatch.setenv("VGEN_LOCAL_OUTPUT_DIR", str(tmp_path / "file"))
    with pytest.raises(UploadError, match="not a folder"):
        asyncio.run(up.preflight(target("a.mp4", target="local")))


def test_preflight_names_missing_credentials(monkeypatch):
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    with pytest.raises(UploadError, match="SUPABASE_URL"):
        asyncio.run(up.preflight(target("a.mp4")))


# --- 15: signed URLs that any HTTP client opens --------------------------------------------------------


def test_a_signed_url_for_a_name_with_spaces_opens_with_urllib(supabase, tmp_path):
    _, store, _ = supabase
    f = put_file(tmp_path, 5000)
    name = "ep/take 2+final, v1.mp4"
    done = asyncio.run(upload(f, target(name, upsert=True, signed_url_seconds=3600), tmp_path / "s.json"))
    assert done.signed_url and " " not in done.signed_url and done.signed_url.endswith("?token=test-token")
    with urllib.request.urlopen(done.signed_url, timeout=10) as r:
        assert r.read() == f.read_bytes()


# --- 16: a gateway that drops /storage/v1 from the upload URL ----------------------------------------


def test_an_upload_url_without_storage_v1_says_what_to_set(supabase, tmp_path):
    base, _, control = supabase
    control(stripPrefix=True)
    f = put_file(tmp_path, 1000)
    with pytest.raises(UploadError) as e:
        asyncio.run(
            tus_upload(f, base + "/storage/v1/upload/resumable", KEY, "videos", "gw.mp4", True, tmp_path / "s.json")
        )
    msg = one_line_without_key(e.value)
    assert "HTTP 404" in msg and "lacks /storage/v1" in msg and "REQUEST_ALLOW_X_FORWARDED_PATH=true" in msg


# --- what tests/remote/test_worker.py relies on -------------------------------------------------------


def test_the_positional_call_and_the_plain_signed_url_still_work(supabase, tmp_path):
    base, store, _ = supabase
    f = put_file(tmp_path, 7 * MiB)
    state = tmp_path / "upload.json"
    endpoint = base + "/storage/v1/upload/resumable"
    assert asyncio.run(tus_upload(f, endpoint, KEY, "videos", "channel-a/ep-42.mp4", True, state, max_chunks=1)) == 0
    assert asyncio.run(tus_upload(f, endpoint, KEY, "videos", "channel-a/ep-42.mp4", True, state)) == 6 * MiB
    assert asyncio.run(signed_url("videos", "channel-a/ep-42.mp4", 3600)) == (
        f"{base}/storage/v1/object/sign/videos/channel-a/ep-42.mp4?token=test-token"
    )
