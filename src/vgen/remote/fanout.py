"""One video on many RunPod workers: chunks of segments rendered beside each other, joined by stream copy.

    from vgen.remote.client import RunPodClient, Storage
    client = RunPodClient("my-endpoint-id")
    job = client.render("ep-42.yaml", Storage.from_env(), workers=8, asset_bucket="assets",
                        output={"bucket": "videos", "path": "ep-42.mp4"},
                        work={"target": "s3", "bucket": "vgen-work"}, state_path="ep-42.fanout.json")
    result = job.wait(on_progress=print)      # or, after a restart: FanOut.resume(client, "ep-42.fanout.json")

The caller plans here (`vgen.remote.parts`: why the ranges are the caller's and the piece names the
workers'), uploads each asset once, then sends jobs to the endpoint that serves single renders: a plan
job (the workers' piece names; which of them the work area keeps from an earlier render), the audio
job, one job per chunk of segments, and the join. At most `workers` jobs are in flight. A chunk that
fails, times out, is cancelled by someone else or goes silent for `stall_s` (its worker was lost) is
sent again alone, up to `retries` times; a piece the join finds different from what its worker
reported (size, SHA-256, frame count) is rendered again. The whole state is a JSON document, saved
after every change, so a restarted process polls the jobs still running instead of sending them anew.

Standard library only at import, like `vgen.remote.client`; the planning loads the renderer's models.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vgen.errors import VgenError
from vgen.remote.client import FINAL, ClientError, RunPodClient, Storage

if TYPE_CHECKING:
    from vgen.model.spec import LoadedSpec
    from vgen.model.timeline import Timeline

STATE_VERSION = 1
PRICE_ENV = "VGEN_PRICE_PER_GPU_SECOND"
Progress = Callable[[dict[str, Any]], None]


class FanOutError(VgenError):
    """A fanned-out render that cannot finish: the chunk, its last error, what was tried."""


class FanOutCancelled(FanOutError):
    """The render was cancelled; every job it had sent was cancelled too."""


def plan_locally(spec_path: str | Path) -> tuple[LoadedSpec, Timeline, list[tuple[int, int]], dict[Path, Any]]:
    """The caller's plan: the spec probed here (ffprobe only; no NVENC), its timeline and the frame
    bounds of its segments, exactly as a local render cuts them."""
    from vgen.ffmpeg.binary import find_ffmpeg
    from vgen.model.plan import cut_points
    from vgen.pipeline import load_and_check

    checked = load_and_check(spec_path, find_ffmpeg())
    tl = checked.timeline
    cuts = [0, *cut_points(tl, round(checked.loaded.spec.segments.seconds * float(tl.fps))), tl.total_frames]
    return checked.loaded, tl, list(zip(cuts, cuts[1:])), dict(checked.facts)


def _part(kind: str, key: str, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "key": key, "state": "todo", "job": None, "attempts": 0, "errors": []} | more


class FanOut:
    """A fanned-out render and its state (`state`: JSON, for `resume`)."""

    def __init__(
        self, client: RunPodClient, state: dict[str, Any], state_path: str | Path | None = None, poll_s: float = 2.0
    ) -> None:
        self.client, self.state = client, state
        self.state_path = Path(state_path) if state_path else None
        self.poll_s = float(os.environ.get("VGEN_POLL_SECONDS") or poll_s)
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- starting and resuming -------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        client: RunPodClient,
        spec_path: str | Path,
        storage: Storage,
        *,
        workers: int,
        asset_bucket: str,
        output: dict[str, Any],
        work: dict[str, Any],
        retries: int = 2,
        stall_s: float = 300.0,
        max_chunk_s: float | None = None,
        keep_work: bool = False,
        price_per_gpu_second: float | None = None,
        state_path: str | Path | None = None,
        on_asset: Callable[[str, bool], None] | None = None,
    ) -> FanOut:
        """Plan here, upload the assets, and make the state; nothing is sent to RunPod yet (`wait`)."""
        from vgen.remote.client import upload_assets
        from vgen.remote.parts import (
            MAX_CHUNK_SECONDS,
            PICTURE_ROLES,
            SOUND_ROLES,
            asset_roles,
            chunk_assets,
            chunk_ranges,
            most_workers,
        )
        from vgen.remote.worker.pieces import facts_json

        loaded, tl, bounds, facts = plan_locally(spec_path)
        sent = upload_assets(spec_path, storage, asset_bucket, on_asset=on_asset)
        roles = asset_roles(loaded)
        names = {loaded.resolve(rel): rel for rel in roles}
        pictures = {p: n for p, n in names.items() if roles[n] & set(PICTURE_ROLES)}
        always = [n for n in sent.urls if not roles.get(n, set()) & {*PICTURE_ROLES, *SOUND_ROLES}]
        sound = sorted({*always, *(n for n in sent.urls if roles.get(n, set()) & set(SOUND_ROLES))})
        frames = [b - a for a, b in bounds]
        fps = float(tl.fps)
        workers = most_workers(len(bounds), workers)
        chunks = chunk_ranges(frames, fps, workers, max_chunk_s or MAX_CHUNK_SECONDS)
        out = {"upsert": True} | dict(output)
        area_id = hashlib.sha256(f"{out.get('target', 'supabase')}:{out['bucket']}/{out['path']}".encode()).hexdigest()
        area = {"target": work.get("target", "s3"), "bucket": work["bucket"]}
        area["prefix"] = f"{work.get('prefix', 'vgen-work')}/{area_id[:24]}"
        render_id = uuid.uuid4().hex[:12]
        parts = [_part("plan", f"{render_id}-plan", assets=always)]
        parts.append(_part("audio", f"{render_id}-audio", assets=sound, frames=0))
        for a, b in chunks:
            shown = chunk_assets(tl, bounds[a][0], bounds[b - 1][1], pictures, always)
            parts.append(
                _part("chunk", f"{render_id}-c{a:05d}", segments=[a, b], frames=sum(frames[a:b]), assets=shown)
            )
        parts.append(_part("join", f"{render_id}-join", assets=always))
        state = {
            "version": STATE_VERSION,
            "render_id": render_id,
            "endpoint": client.endpoint,
            "spec": sent.spec,
            "urls": sent.urls,
            "digests": sent.digests,
            "facts": facts_json(facts, names),
            "bounds": bounds,
            "fps": fps,
            "total_frames": tl.total_frames,
            "output": out,
            "work": area,
            "keep_work": keep_work,
            "workers": workers,
            "retries": retries,
            "stall_s": stall_s,
            "price_per_gpu_second": price_per_gpu_second,
            "parts": parts,
            "started": time.time(),
            "wall_s": 0.0,
            "result": None,
            "cancelled": False,
        }
        job = cls(client, state, state_path)
        job.save()
        return job

    @classmethod
    def resume(cls, client: RunPodClient, state: dict[str, Any] | str | Path) -> FanOut:
        """The render of a saved state (a dict, or the file `start` wrote): jobs still running are
        polled, finished chunks are never sent again."""
        path = None
        if isinstance(state, dict):
            saved = state
        else:
            path = Path(state)
            saved = json.loads(path.read_text(encoding="utf-8"))
        return cls._resumed(client, saved, path)

    @classmethod
    def _resumed(cls, client: RunPodClient, state: dict[str, Any], path: Path | None) -> FanOut:
        if state.get("version") != STATE_VERSION:
            raise FanOutError(f"a fan-out state of version {state.get('version')}, not {STATE_VERSION}")
        if state.get("endpoint") != client.endpoint:
            raise FanOutError(f"the state is of endpoint {state.get('endpoint')}, not {client.endpoint}")
        state["cancelled"] = False
        now = time.time()
        for part in state["parts"]:
            if part["state"] == "cancelled":  # cancelled before: sent again
                part["state"], part["job"] = "todo", None
            if part["state"] == "failed":  # given up on before: resumed once the cause is fixed, fresh tries
                part["state"], part["job"], part["attempts"] = "todo", None, 0
            if part["state"] in ("queued", "running"):
                part["seen"] = [part["seen"][0], part["seen"][1], now]  # the silence counts from here
        return cls(client, state, path)

    def save(self) -> None:
        if self.state_path is not None:
            from vgen.files import atomic_write_text

            atomic_write_text(self.state_path, json.dumps(self.state, indent=1))

    # -- running ---------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel every job of the render (from any thread); `wait` then raises FanOutCancelled."""
        self._stop.set()
        with self._lock:
            self.state["cancelled"] = True
            for part in self.state["parts"]:
                if part["state"] in ("queued", "running") and part["job"]:
                    self._cancel_job(part)
                    part["state"] = "cancelled"
            self.save()

    def _cancel_job(self, part: dict[str, Any]) -> None:
        try:
            self.client.cancel(part["job"])
        except ClientError:
            pass  # gone already; RunPod ends it at its timeout either way

    def wait(self, on_progress: Progress | None = None) -> dict[str, Any]:
        """Run the render to its end; returns the join's output with the fan-out's figures."""
        if self.state["result"] is not None:
            return dict(self.state["result"] or {})
        session_start = time.monotonic()
        wall_before = float(self.state.get("wall_s", 0.0))
        rendered_before = self._frames_done()
        while True:
            if self._stop.is_set() or self.state["cancelled"]:
                raise FanOutCancelled("the render was cancelled", "its jobs were cancelled; start it again to resume")
            with self._lock:
                finished = self._step()
                self.state["wall_s"] = wall_before + time.monotonic() - session_start
                self.save()
            if on_progress:
                on_progress(self._progress(time.monotonic() - session_start, rendered_before))
            if finished:
                return dict(self.state["result"] or {})
            time.sleep(self.poll_s)

    def _parts(self, *kinds: str) -> list[dict[str, Any]]:
        return [p for p in self.state["parts"] if p["kind"] in kinds]

    def _step(self) -> bool:
        """One round: poll the jobs in flight, send what may go, join when every piece is there."""
        for part in self.state["parts"]:
            if part["state"] in ("queued", "running"):
                self._poll(part)
        plan = self._parts("plan")[0]
        if plan["state"] != "done":
            if plan["state"] == "todo":
                self._send(plan)
            return False
        if self.state["result"] is not None:
            return True
        join = self._parts("join")[0]
        pieces = self._parts("audio", "chunk")
        if all(p["state"] == "done" for p in pieces):
            if join["state"] == "todo":
                self._send(join)
            return join["state"] == "done" and self.state["result"] is not None
        flying = sum(p["state"] in ("queued", "running") for p in pieces)
        for part in pieces:
            if flying >= self.state["workers"]:
                break
            if part["state"] == "todo":
                self._send(part)
                flying += 1
        return False

    def _input(self, part: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        inp: dict[str, Any] = {
            "kind": part["kind"],
            "spec": s["spec"],
            "assets": {n: s["urls"][n] for n in part["assets"]},
            "facts": s["facts"],
            "digests": s["digests"],
            "bounds": s["bounds"],
            "work": s["work"],
            "job_key": part["key"],
        }
        if part["kind"] in ("plan", "join"):
            inp["output"] = s["output"]
        if part["kind"] == "chunk":
            inp["segments"] = part["segments"]
        if part["kind"] == "join":
            inp["pieces"] = self._manifest()
            inp["keep_work"] = s["keep_work"]
        return inp

    def _manifest(self) -> list[dict[str, Any]]:
        """Every segment's piece, then the audio's, as their workers reported them."""
        by_index: dict[int, dict[str, Any]] = {}
        for part in self._parts("audio", "chunk"):
            for piece in part.get("pieces") or []:
                by_index[piece["index"]] = piece
        return [by_index[i] for i in sorted(by_index, key=lambda i: (i < 0, i))]

    def _send(self, part: dict[str, Any]) -> None:
        part["job"] = self.client.run(self._input(part))
        part["state"] = "queued"
        part["attempts"] += 1
        part["sent_at"] = time.time()
        part["seen"] = ["IN_QUEUE", None, time.time()]

    def _poll(self, part: dict[str, Any]) -> None:
        try:
            st = self.client.status(part["job"])
        except ClientError as exc:
            if "HTTP 404" not in str(exc):
                return  # the API is unreachable for a moment: ask again next round
            st = {"status": "LOST", "error": "RunPod no longer knows the job"}
        status = str(st.get("status"))
        out = st.get("output")
        now = time.time()
        if status == "IN_PROGRESS":
            part["state"] = "running"
            part.setdefault("started_at", now)
            part["progress"] = out if isinstance(out, dict) else part.get("progress")
            seen = [status, json.dumps(out, sort_keys=True), now]
            if seen[:2] != part["seen"][:2]:
                part["seen"] = seen
            elif now - part["seen"][2] > self.state["stall_s"]:  # its worker went silent: lost
                self._cancel_job(part)
                self._failed(part, f"no progress for {self.state['stall_s']:.0f} s (worker lost?)")
            return
        if status not in FINAL and status != "LOST":
            return
        part["gpu_s"] = part.get("gpu_s", 0.0) + float(st.get("executionTime") or 0) / 1000
        if status == "COMPLETED" and isinstance(out, dict) and "error" not in out:
            self._completed(part, out, now)
            return
        error = str(st.get("error") or (out.get("error") if isinstance(out, dict) else "") or status)
        self._failed(part, f"{status}: {error}")

    def _failed(self, part: dict[str, Any], error: str) -> None:
        part["errors"].append(error[:2000])
        part["state"] = "todo"
        part["job"] = None
        part.pop("progress", None)
        if part["attempts"] > self.state["retries"]:
            part["state"] = "failed"
            self._give_up(part, error)

    def _give_up(self, part: dict[str, Any], error: str) -> None:
        for other in self.state["parts"]:
            if other["state"] in ("queued", "running") and other["job"]:
                self._cancel_job(other)
                other["state"] = "cancelled"
        self.save()
        what = part["kind"]
        if what == "chunk":
            a, b = part["segments"]
            what = f"chunk of segments {a + 1}-{b}"
        raise FanOutError(
            f"the {what} failed {part['attempts']} times; the last: {error}",
            "the finished pieces are kept: resume the render once the cause is fixed",
        )

    def _completed(self, part: dict[str, Any], out: dict[str, Any], now: float) -> None:
        part["state"] = "done"
        part["ended_at"] = now
        part["job"] = None
        part.pop("progress", None)
        kind = part["kind"]
        if kind == "plan":
            self._planned(out)
        elif kind in ("chunk", "audio"):
            part["pieces"] = out["pieces"]
            part["render_s"] = out.get("render_s")
            part["encoder"] = out.get("encoder")
        elif kind == "join":
            bad = out.get("bad_pieces")
            if bad:
                self._redo(part, set(bad))
                return
            self.state["result"] = self._result(out)

    def _planned(self, out: dict[str, Any]) -> None:
        """The workers' names: a chunk whose pieces the work area keeps whole is not sent."""
        names, kept = out["names"], out["kept"]
        self.state["names"] = names
        self.state["ffmpeg"] = out.get("ffmpeg")
        for part in self._parts("audio", "chunk"):
            indices = range(*part["segments"]) if part["kind"] == "chunk" else [-1]
            entries = [kept[i] for i in indices]
            if all(entries):
                part["state"] = "done"
                part["reused"] = True
                part["pieces"] = [dict(e or {}) | {"index": i} for i, e in zip(indices, entries)]

    def _redo(self, join: dict[str, Any], bad: set[int]) -> None:
        """Pieces the join found different from their entries: their chunks again, then the join."""
        join["state"] = "todo"
        join["errors"].append(f"pieces {sorted(bad)} did not match their entries: rendered again")
        for part in self._parts("audio", "chunk"):
            indices = set(range(*part["segments"])) if part["kind"] == "chunk" else {-1}
            if indices & bad:
                part["errors"].append("its piece did not match its entry at the join")
                part["state"], part["pieces"], part["reused"] = "todo", None, False
                if part["attempts"] > self.state["retries"]:
                    part["state"] = "failed"
                    self._give_up(part, "its piece did not match its entry at the join")

    # -- progress and result ---------------------------------------------------------------------

    def _frames_done(self) -> float:
        done = 0.0
        for part in self._parts("chunk"):
            if part["state"] == "done":
                done += part["frames"]
            elif part.get("progress"):
                done += part["frames"] * min(float(part["progress"].get("percent") or 0), 100.0) / 100
        return done

    def _progress(self, elapsed: float, rendered_before: float) -> dict[str, Any]:
        chunks = self._parts("chunk")
        total = self.state["total_frames"]
        done = self._frames_done()
        fps = (done - rendered_before) / elapsed if elapsed > 0 else 0.0
        join = self._parts("join")[0]
        stage = "join" if join["state"] in ("queued", "running") else "chunks"
        if self._parts("plan")[0]["state"] != "done":
            stage = "plan"
        if self.state["result"] is not None:
            stage = "done"
        return {
            "stage": stage,
            "frames": round(done),
            "total_frames": total,
            "percent": round(100 * done / total, 1) if total else 100.0,
            "chunks": len(chunks),
            "done": sum(p["state"] == "done" for p in chunks),
            "running": sum(p["state"] == "running" for p in chunks),
            "queued": sum(p["state"] in ("todo", "queued") for p in chunks),
            "retries": sum(max(p["attempts"] - 1, 0) for p in self.state["parts"]),
            "fps": round(fps, 1),
            "eta_s": round((total - done) / fps, 1) if fps > 0 else None,
            "wall_s": round(float(self.state["wall_s"]), 1),
        }

    def _result(self, out: dict[str, Any]) -> dict[str, Any]:
        """The join's output (the fields of a single job) with the fan-out's: wall time, GPU-seconds
        of every job, each chunk's timings and retries, and the cost where a price is known."""
        parts = self.state["parts"]
        gpu_s = sum(float(p.get("gpu_s", 0.0)) for p in parts)
        price = self.state.get("price_per_gpu_second")
        if price is None and os.environ.get(PRICE_ENV):
            price = float(os.environ[PRICE_ENV])
        chunks = [
            {
                "segments": [p["segments"][0] + 1, p["segments"][1]],
                "frames": p["frames"],
                "reused": bool(p.get("reused")),
                "attempts": p["attempts"],
                "retries": max(p["attempts"] - 1, 0),
                "errors": p["errors"],
                "render_s": p.get("render_s"),
                "gpu_s": round(float(p.get("gpu_s", 0.0)), 3),
                "queued_s": round(p["started_at"] - p["sent_at"], 3) if "started_at" in p and "sent_at" in p else None,
                "job_s": round(p["ended_at"] - p["sent_at"], 3) if "ended_at" in p and "sent_at" in p else None,
            }
            for p in self._parts("chunk")
        ]
        result = dict(out) | {
            "workers": self.state["workers"],
            "wall_s": round(float(self.state["wall_s"]), 3),
            "gpu_s": round(gpu_s, 3),
            "jobs": sum(p["attempts"] for p in parts),
            "retries": sum(max(p["attempts"] - 1, 0) for p in parts),
            "chunks": chunks,
            "chunks_reused": sum(c["reused"] for c in chunks),
        }
        if price is not None:
            result["price_per_gpu_second"] = price
            result["cost"] = round(gpu_s * price, 4)
        return result
