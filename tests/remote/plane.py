"""A local stand-in for RunPod on 127.0.0.1: the endpoint's API (/run, /status, /cancel), the queue
its workers take jobs from (the runpod SDK's worker loop: job-take, job-done, job-stop), and a
Supabase-like Storage for the caller's assets (objects in memory, signed GETs)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RUNPOD_KEY, STORAGE_KEY = "rp-test-key", "sb-test-key"
TAKE_WAIT_S = 1.0


class ControlPlane:
    """Jobs are handed out in order to whichever worker asks; each job's record is what /status says.
    `jobs` may also be given up front (one job for the worker tests)."""

    def __init__(self, jobs: list[dict] | None = None, endpoint: str = "ep1") -> None:
        self.endpoint = endpoint
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)  # job-take blocks on it, as RunPod's does
        self.jobs: dict[str, dict[str, Any]] = {}
        self.queue: list[str] = []
        self.posts: list[tuple[str, dict]] = []
        self.objects: dict[str, bytes] = {}
        self.taken: list[tuple[str, str]] = []  # (job id, worker)
        self.count = 0
        for job in jobs or []:
            self.add(job["input"], job.get("id"))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, inp: dict, job_id: str | None = None) -> str:
        with self.lock:
            self.count += 1
            job_id = job_id or f"job-{self.count}"
            self.jobs[job_id] = {"id": job_id, "input": inp, "status": "IN_QUEUE", "queued_at": time.time()}
            self.queue.append(job_id)
            self.arrived.notify_all()
        return job_id

    def running(self) -> list[str]:
        with self.lock:
            return [j for j, r in self.jobs.items() if r["status"] in ("IN_QUEUE", "IN_PROGRESS")]

    def kinds(self, since: int = 0) -> list[str]:
        """The kind of every job sent, in order (from job number `since` on)."""
        with self.lock:
            return [r["input"].get("kind", "render") for r in list(self.jobs.values())[since:]]

    def env(self) -> dict[str, str]:
        """The caller's environment: this plane as RunPod's API and as the assets' Storage."""
        return {"RUNPOD_API_KEY": RUNPOD_KEY, "VGEN_RUNPOD_API": self.url + "/v2", "VGEN_POLL_SECONDS": "0.2"}

    def worker_env(self, name: str) -> dict[str, str]:
        return {
            "RUNPOD_WEBHOOK_GET_JOB": f"{self.url}/job-take/$ID",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{self.url}/job-done/$ID",
            "RUNPOD_POD_ID": name,
        }

    def handler(plane):
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, body: Any = None, raw: bytes | None = None) -> None:
                data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
                try:
                    self.send_response(code)
                    if raw is None:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # a worker killed while it waited for a job
                    pass

            def _auth(self, key: str) -> bool:
                if self.headers.get("Authorization") != f"Bearer {key}":
                    self._send(401, {"error": "unauthorized"})
                    return False
                return True

            def do_HEAD(self):
                if self.path.startswith("/storage/v1/object/") and self._auth(STORAGE_KEY):
                    name = self.path.split("/storage/v1/object/", 1)[1]
                    self._send(200 if name in plane.objects else 404)

            def do_GET(self):
                path = _route(self.path)
                api = f"/v2/{plane.endpoint}/"
                if path.startswith("/job-take/"):
                    worker = path.rsplit("/", 1)[1]
                    with plane.lock:
                        # Blocking, as RunPod's job-take is: the SDK asks again at once after a 204, so
                        # answering at once would keep every idle worker busy (a quarter core each).
                        plane.arrived.wait_for(lambda: bool(plane.queue), timeout=TAKE_WAIT_S)
                        job_id = plane.queue.pop(0) if plane.queue else None
                        if job_id:
                            rec = plane.jobs[job_id]
                            rec["status"], rec["worker"], rec["started_at"] = "IN_PROGRESS", worker, time.time()
                            plane.taken.append((job_id, worker))
                    if job_id is None:
                        self._send(204)
                    else:
                        self._send(200, {"id": job_id, "input": plane.jobs[job_id]["input"]})
                elif path.startswith("/job-stop/"):
                    worker = path.rsplit("/", 1)[1]
                    with plane.lock:
                        stop = [
                            j
                            for j, r in plane.jobs.items()
                            if r.get("worker") == worker and r["status"] == "CANCELLED" and not r.get("stop_sent")
                        ]
                        for j in stop:
                            plane.jobs[j]["stop_sent"] = True
                    self._send(200, {"jobsToStop": stop}) if stop else self._send(204)
                elif path.startswith(api + "status/") and self._auth(RUNPOD_KEY):
                    job_id = path.rsplit("/", 1)[1]
                    with plane.lock:
                        rec = plane.jobs.get(job_id)
                        body = None if rec is None else {k: v for k, v in rec.items() if k != "input"}
                    self._send(404, {"error": "not found"}) if body is None else self._send(200, body)
                elif path.startswith("/storage/v1/object/sign/"):  # a signed URL: no key, as a worker fetches it
                    data = plane.objects.get(path.split("/sign/", 1)[1])
                    self._send(200 if data is not None else 404, raw=data or b"")
                else:
                    self._send(404, {"error": "no route"})

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = _route(self.path)
                api = f"/v2/{plane.endpoint}/"
                if path.startswith("/job-done/"):
                    body = json.loads(data)
                    plane.posts.append((self.path, body))
                    job_id = path.split("/")[2]
                    with plane.lock:
                        rec = plane.jobs.get(job_id)
                        if rec is not None and rec["status"] == "IN_PROGRESS":
                            if body.get("status") == "IN_PROGRESS":
                                rec["output"] = body.get("output")
                            else:
                                took = int((time.time() - rec["started_at"]) * 1000)
                                rec["executionTime"] = took
                                rec["delayTime"] = int((rec["started_at"] - rec["queued_at"]) * 1000)
                                if "error" in body or "error" in (body.get("output") or {}):
                                    rec["status"] = "FAILED"
                                    rec["error"] = body.get("error") or body["output"]["error"]
                                    rec.pop("output", None)
                                else:
                                    rec["status"], rec["output"] = "COMPLETED", body.get("output")
                    self._send(200)
                elif path == api + "run" and self._auth(RUNPOD_KEY):
                    job_id = plane.add(json.loads(data)["input"])
                    self._send(200, {"id": job_id, "status": "IN_QUEUE"})
                elif path.startswith(api + "cancel/") and self._auth(RUNPOD_KEY):
                    job_id = path.rsplit("/", 1)[1]
                    with plane.lock:
                        rec = plane.jobs.get(job_id)
                        if rec is not None and rec["status"] in ("IN_QUEUE", "IN_PROGRESS"):
                            rec["status"] = "CANCELLED"
                            if job_id in plane.queue:
                                plane.queue.remove(job_id)
                    self._send(200, {"id": job_id, "status": "CANCELLED"})
                elif path.startswith("/storage/v1/object/sign/") and self._auth(STORAGE_KEY):
                    name = path.split("/sign/", 1)[1]
                    self._send(200, {"signedURL": f"/object/sign/{name}?token=t"})
                elif path.startswith("/storage/v1/object/") and self._auth(STORAGE_KEY):
                    plane.objects[path.split("/storage/v1/object/", 1)[1]] = data
                    self._send(200, {"Key": path})
                else:
                    self._send(404, {"error": "no route"})

        return H


def _route(path: str) -> str:
    """The path without its query: the SDK appends its own with '&' (`/job-take/ID&job_in_progress=0`)."""
    return path.split("?")[0].split("&")[0]
