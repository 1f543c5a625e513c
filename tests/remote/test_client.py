"""The Flask side: vgen submit/status/cancel against local stand-ins of RunPod's API and Storage; build_job's
fonts folders, down to a real worker's render."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import base_spec, vgen, write_spec

RUNPOD_KEY, STORAGE_KEY = "rp-test-key", "sb-test-key"


class Fake:
    """In-memory RunPod endpoint and Supabase Storage, checking the bearer keys."""

    def __init__(self, states: list[str]) -> None:
        self.states = states
        self.objects: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}
        self.polls = 0
        self.puts = 0

    def handler(fake):
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, body=None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _auth(self, key: str) -> bool:
                if self.headers.get("Authorization") != f"Bearer {key}":
                    self._send(401, {"error": "unauthorized"})
                    return False
                return True

            def do_HEAD(self):
                if self.path.startswith("/storage/") and self._auth(STORAGE_KEY):
                    name = self.path.split("/storage/v1/object/", 1)[1]
                    self._send(200 if name in fake.objects else 404)

            def do_GET(self):
                if self.path.startswith("/storage/v1/object/sign/"):  # a signed URL: no key, as a worker fetches it
                    data = fake.objects.get(self.path.split("?")[0].split("/sign/", 1)[1])
                    self.send_response(200 if data is not None else 404)
                    self.send_header("Content-Length", str(len(data or b"")))
                    self.end_headers()
                    self.wfile.write(data or b"")
                elif self.path.startswith("/v2/ep1/status/") and self._auth(RUNPOD_KEY):
                    i = min(fake.polls, len(fake.states) - 1)
                    fake.polls += 1
                    state = fake.states[i]
                    body = {"id": self.path.rsplit("/", 1)[1], "status": state}
                    if state == "IN_PROGRESS":
                        body["output"] = {"stage": "segment", "percent": 50.0, "fps": 90.0, "eta_s": 12}
                    if state == "COMPLETED":
                        body["output"] = {"bucket": "videos", "path": "ep.mp4", "frames": 20}
                    if state == "FAILED":
                        body["error"] = "render failed"
                    self._send(200, body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if self.path == "/v2/ep1/run" and self._auth(RUNPOD_KEY):
                    job = json.loads(data)
                    fake.jobs["job-1"] = job
                    self._send(200, {"id": "job-1", "status": "IN_QUEUE"})
                elif self.path.startswith("/v2/ep1/cancel/") and self._auth(RUNPOD_KEY):
                    self._send(200, {"id": "job-1", "status": "CANCELLED"})
                elif self.path.startswith("/storage/v1/object/sign/") and self._auth(STORAGE_KEY):
                    name = self.path.split("/sign/", 1)[1]
                    self._send(200, {"signedURL": f"/object/sign/{name}?token=t"})
                elif self.path.startswith("/storage/v1/object/") and self._auth(STORAGE_KEY):
                    fake.objects[self.path.split("/storage/v1/object/", 1)[1]] = data
                    fake.puts += 1
                    self._send(200, {"Key": self.path})

        return H


@pytest.fixture
def fake_api(monkeypatch):
    def start(states):
        fake = Fake(states)
        server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        servers.append(server)
        env = {
            "RUNPOD_API_KEY": RUNPOD_KEY,
            "SUPABASE_URL": url,
            "SUPABASE_SERVICE_ROLE_KEY": STORAGE_KEY,
            "VGEN_RUNPOD_API": url + "/v2",
            "VGEN_POLL_SECONDS": "0.1",
        }
        return fake, env

    servers: list = []
    yield start
    for s in servers:
        s.shutdown()


@pytest.fixture
def spec(media, tmp_path):
    s = base_spec()
    s["slides"] = [{"image": str(media["land"]), "duration": 1}, {"image": str(media["square"]), "duration": 1}]
    s["audio"] = {"narration": str(media["narration_wav"])}
    return write_spec(tmp_path, s)


@pytest.mark.parametrize("final, code", [("COMPLETED", 0), ("FAILED", 1), ("CANCELLED", 1), ("TIMED_OUT", 1)])
def test_submit_wait_follows_every_state(fake_api, spec, final, code):
    fake, env = fake_api(["IN_QUEUE", "IN_PROGRESS", "IN_PROGRESS", final])
    r = vgen("submit", spec, "--endpoint", "ep1", "--wait", "--output-path", "ch/ep.mp4", env=env)
    assert r.returncode == code, r.stderr
    assert r.stdout.splitlines()[0] == "job-1"
    result = json.loads(r.stdout.split("\n", 1)[1])
    assert result["status"] == final and fake.polls == 4
    job = fake.jobs["job-1"]["input"]
    assert job["output"] == {"bucket": "videos", "path": "ch/ep.mp4", "upsert": True}
    assert set(job["assets"]) == {
        str(p)
        for p in (
            job["spec"]["slides"][0]["image"],
            job["spec"]["slides"][1]["image"],
            job["spec"]["audio"]["narration"],
        )
    }
    assert all("/storage/v1/object/sign/vgen-assets/sha256/" in u for u in job["assets"].values())
    assert RUNPOD_KEY not in r.stdout + r.stderr and STORAGE_KEY not in r.stdout + r.stderr


def test_assets_already_stored_are_not_sent_again(fake_api, spec):
    fake, env = fake_api(["COMPLETED"])
    assert vgen("submit", spec, "--endpoint", "ep1", env=env).returncode == 0
    first = fake.puts
    r = vgen("submit", spec, "--endpoint", "ep1", env=env)
    assert r.returncode == 0 and first == 3 and fake.puts == 3 and "already stored" in r.stderr


def test_status_cancel_and_missing_key(fake_api, spec):
    fake, env = fake_api(["IN_PROGRESS"])
    st = vgen("status", "job-1", "--endpoint", "ep1", env=env)
    assert st.returncode == 0 and json.loads(st.stdout)["output"]["percent"] == 50.0
    c = vgen("cancel", "job-1", "--endpoint", "ep1", env=env)
    assert c.returncode == 0 and json.loads(c.stdout)["status"] == "CANCELLED"
    bad = vgen("status", "job-1", "--endpoint", "ep1", env={**env, "RUNPOD_API_KEY": ""})
    assert bad.returncode == 2 and "RUNPOD_API_KEY is not set" in bad.stderr


def test_an_explicit_api_base_wins_over_the_environment(monkeypatch):
    from vgen.remote.client import DEFAULT_API, RunPodClient

    monkeypatch.setenv("RUNPOD_API_KEY", "k")
    monkeypatch.setenv("VGEN_RUNPOD_API", "http://env.example/v2/")
    assert RunPodClient("ep", api_base="http://given.example/v2").api_base == "http://given.example/v2"
    assert RunPodClient("ep").api_base == "http://env.example/v2"
    monkeypatch.delenv("VGEN_RUNPOD_API")
    assert RunPodClient("ep").api_base == DEFAULT_API


def test_build_job_sends_each_slides_narration_and_word_timings(fake_api, media, tmp_path, monkeypatch):
    from vgen.remote.client import Storage, build_job

    fake, env = fake_api(["COMPLETED"])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    words = tmp_path / "w.json"
    words.write_text('[{"word": "hi", "start": 0, "end": 0.5}]')
    s = base_spec()
    s["slides"] = [
        {
            "image": str(media["land"]),
            "narration": str(media["narration_wav"]),
            "words": str(words),
            "text": "hi",
            "chapter": "One",
        }
    ]
    s["subtitles"] = {"from": "text", "sidecar": ["srt"]}
    job = build_job(write_spec(tmp_path, s), Storage.from_env(), "assets", "videos", "ep.mp4")
    assert set(job["assets"]) == {str(media["land"]), str(media["narration_wav"]), str(words)}
    assert job["spec"]["subtitles"]["from"] == "text" and job["spec"]["slides"][0]["chapter"] == "One"
    assert len(fake.objects) == 3


# --- fonts folders: each font an asset of its own ---------------------------------------------------


def renamed_font(dest: Path) -> str:
    """DejaVu Serif copied to `dest` under a family installed nowhere (the same length, so the
    name table's offsets hold): found only where `dest` is a font of the fonts folder."""
    src = subprocess.run(["fc-match", "--format", "%{file}", "DejaVu Serif"], capture_output=True, text=True).stdout
    assert src.endswith("DejaVuSerif.ttf"), f"fonts-dejavu-core is needed here (fc-match found {src!r})"
    family = "DejaVu Serif"
    new = "Vgen Tst Ser"
    data = Path(src).read_bytes()
    for enc in ("latin-1", "utf-16-be"):
        data = data.replace(family.encode(enc), new.encode(enc))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    assert subprocess.run(["fc-scan", "--format", "%{family}", str(dest)], capture_output=True, text=True).stdout == new
    return new


def font_spec(folder: Path, media, key: tuple[str, ...] = ("subtitles", "fonts_dir"), family: str = "DejaVu Sans"):
    """A spec in `folder` with relative paths, as a job needs them, two slides with text captioned
    in `family`, its fonts folder `fonts/` named by `key`."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media["land"], folder / "images" / "a.jpg")
    s = base_spec()
    s["slides"] = [
        {"image": "images/a.jpg", "duration": 1, "text": "Roads ran north."},
        {"image": "images/a.jpg", "duration": 1, "text": "Bridges held."},
    ]
    s["subtitles"] = {"from": "text", "style": {"font": family, "size": 20}}
    (s if key == ("fonts_dir",) else s["subtitles"])["fonts_dir"] = "fonts/"
    return write_spec(folder, s)


@pytest.mark.parametrize("key", [("subtitles", "fonts_dir"), ("fonts_dir",)], ids=".".join)
def test_build_job_sends_each_font_of_the_fonts_folder(fake_api, media, tmp_path, monkeypatch, key):
    from vgen.remote.client import Storage, build_job

    fake, env = fake_api(["COMPLETED"])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    spec = font_spec(tmp_path, media, key)
    fonts = tmp_path / "fonts"
    renamed_font(fonts / "Serif-Test.ttf")
    (fonts / "Other.OTF").write_bytes(b"OTTO" + bytes(100))
    (fonts / "readme.txt").write_text("licence")
    (fonts / ".hidden.ttf").write_bytes(b"\x00\x01\x00\x00")
    (fonts / "sub").mkdir()
    (fonts / "sub" / "Deeper.ttf").write_bytes(b"\x00\x01\x00\x00")
    skipped: list[str] = []
    job = build_job(spec, Storage.from_env(), "assets", "videos", "ep.mp4", on_skip=lambda n, why: skipped.append(n))
    assert set(job["assets"]) == {"images/a.jpg", "fonts/Serif-Test.ttf", "fonts/Other.OTF"}
    assert sorted(skipped) == ["fonts/readme.txt", "fonts/sub"]
    spec_fonts = job["spec"]["fonts_dir"] if key == ("fonts_dir",) else job["spec"]["subtitles"]["fonts_dir"]
    assert spec_fonts == "fonts/"  # the spec as written; the worker reads fonts/ as the folder of fonts/NAME
    assert job["assets"]["fonts/Other.OTF"].endswith(".otf?token=t") and len(fake.objects) == 3


@pytest.mark.parametrize(
    "case, words",
    [
        ("empty", "fonts/: the fonts folder holds no font file"),
        ("big", "fonts/Big.ttf: 2000 bytes, over the worker's font cap VGEN_MAX_FONT_BYTES (1000)"),
        ("many", "fonts/: 3 fonts, over the worker's cap VGEN_MAX_FONTS (2)"),
    ],
)
def test_build_job_refuses_a_fonts_folder_over_the_workers_caps(fake_api, media, tmp_path, monkeypatch, case, words):
    from vgen.remote.client import ClientError, Storage, build_job

    fake, env = fake_api(["COMPLETED"])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("VGEN_MAX_FONT_BYTES", "1000")
    monkeypatch.setenv("VGEN_MAX_FONTS", "2")
    spec = font_spec(tmp_path, media)
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / "notes.txt").write_text("no fonts here")
    if case == "big":
        (fonts / "Big.ttf").write_bytes(b"\x00\x01\x00\x00" + bytes(1996))
    if case == "many":
        for n in "abc":
            (fonts / f"{n}.ttf").write_bytes(b"\x00\x01\x00\x00")
    with pytest.raises(ClientError) as exc:
        build_job(spec, Storage.from_env(), "assets", "videos", "ep.mp4")
    assert words in str(exc.value) and "\n" not in str(exc.value) and fake.puts == 0


@pytest.mark.slow
@pytest.mark.parametrize("key", [("subtitles", "fonts_dir"), ("fonts_dir",)], ids=".".join)
def test_a_fonts_folder_goes_from_build_job_to_the_worker_and_its_font_is_used(
    fake_api, media, tmp_path, monkeypatch, key
):
    """build_job uploads the fonts, the worker downloads them into the job's fonts folder, and the
    render finds the font's family there: installed nowhere else, it would be reported missing."""
    from vgen.ffmpeg.captions import font_warning
    from vgen.remote.client import Storage, build_job
    from vgen.remote.worker.handler import run_job

    fake, env = fake_api(["COMPLETED"])
    worker = {
        "VGEN_WORK_ROOT": str(tmp_path / "work"),
        "VGEN_LOCAL_OUTPUT_DIR": str(tmp_path / "out"),
        "VGEN_ALLOWED_ASSET_HOSTS": "127.0.0.1",
        "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        "RUNPOD_SKIP_GPU_CHECK": "true",
    }
    for k, v in (env | worker).items():
        monkeypatch.setenv(k, v)
    family = renamed_font(tmp_path / "ep" / "fonts" / "Serif-Test.ttf")
    assert font_warning(family, None) is not None  # not installed: without the fonts folder it would be missing
    job = build_job(font_spec(tmp_path / "ep", media, key, family), Storage.from_env(), "assets", "videos", "ep.mp4")
    job["output"]["target"] = "local"
    out = asyncio.run(run_job({"id": "fonts-1", "input": job}))
    assert "error" not in out, out
    assert out["frames"] == 20 and (tmp_path / "out" / "videos" / "ep.mp4").stat().st_size == out["size_bytes"]
    assert not [n for n in out.get("notices", []) if "font" in n], out["notices"]
