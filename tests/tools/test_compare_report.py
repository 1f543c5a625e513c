"""`vgen compare --report`: the curves over time, the worst stretches as frames, one HTML file."""

from __future__ import annotations

import base64
import json
import re
import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vgen.errors import VgenError
from vgen.ffmpeg.binary import FFmpeg
from vgen.tools.compare import (
    PSNR_CAP_DB,
    SILENCE_LUFS,
    Report,
    Side,
    _offsets,
    check,
    compare,
    parse_ebur128,
    per_second,
)
from vgen.tools.report import report_html, write_report

from helpers import run_ff

W, H = 320, 180
IMG = re.compile(r'<img src="data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)"([^>]*)>')


@pytest.fixture(scope="module")
def pair(ff, tmp_path_factory) -> tuple[Path, Path]:
    """6 s of moving picture with sound, and a copy whose fourth second (3-4 s) is noise."""
    d = tmp_path_factory.mktemp("report")
    a, b = d / "a.mp4", d / "b.mp4"
    src = ["-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=10:d=6", "-f", "lavfi", "-i", "sine=f=440:d=6"]
    enc = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-c:a", "aac", "-shortest"]
    run_ff(ff, *src, *enc, str(a))
    noise = "noise=alls=80:allf=t:enable='between(t,3,3.99)'"
    run_ff(
        ff, "-i", str(a), "-vf", noise, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-c:a", "copy", str(b)
    )
    return a, b


@pytest.fixture(scope="module")
def written(ff, pair, tmp_path_factory) -> tuple[Report, Path, str]:
    report = compare(ff, *pair, vmaf=False)
    check(report, min_ssim=0.99, max_offset_ms=5)
    out = write_report(report, tmp_path_factory.mktemp("out") / "new" / "report.html", ff=ff)
    return report, out, out.read_text(encoding="utf-8")


def images(page: str) -> list[tuple[str, Image.Image, str]]:
    """Every embedded image, decoded: (type, image, the rest of its tag)."""
    found = []
    for kind, data, attrs in IMG.findall(page):
        img = Image.open(BytesIO(base64.b64decode(data, validate=True)))
        img.load()
        found.append((kind, img, attrs))
    return found


@pytest.mark.slow
def test_the_damaged_second_is_the_worst_and_its_frames_are_in_the_report(written):
    report, out, page = written
    assert out.is_absolute() and out.is_file() and out.name == "report.html"
    assert report.worst[0]["start_s"] == 3.0 and report.worst[0]["ssim"] < 0.5 < report.worst[1]["ssim"]
    sections = re.findall(r'<section class="stretch" data-start="([\d.]+)">(.*?)</section>', page, re.S)
    assert [float(s) for s, _ in sections] == [w["start_s"] for w in report.worst]
    first = images(sections[0][1])
    assert len(first) == 3 and all('data-t="3.500"' in attrs for _, _, attrs in first)
    (_, fa, _), (_, fb, _), (_, diff, _) = first
    assert all(kind == "jpeg" and img.size == (W, H) for kind, img, _ in first)
    calm = images(sections[1][1])[2][1]
    level = [np.asarray(img.convert("L"), np.float64).mean() for img in (diff, calm)]
    assert level[0] > 4 * level[1] + 20  # the noise shows in the difference, the clean second stays dark
    assert np.abs(np.asarray(fa, np.float64) - np.asarray(fb, np.float64)).mean() > 20
    assert "3.0-4.0 s, SSIM" in page


@pytest.mark.slow
def test_every_image_decodes_the_plots_are_there_and_nothing_is_fetched(written):
    report, _, page = written
    found = images(page)
    assert len(found) == 4 + 3 * len(report.worst) == len(re.findall(r"<img\b", page))
    plots = [(img, attrs) for kind, img, attrs in found if 'data-kind="plot"' in attrs]
    assert [re.search(r'id="plot-(\w+)"', a).group(1) for _, a in plots] == ["ssim", "psnr", "loudness", "offset"]
    assert all(kind == "png" and 600 <= img.width <= 2000 and 150 <= img.height <= 1000 for kind, img, _ in found[:4])
    for label in ("SSIM per second", "PSNR per second", "Loudness per second", "Audio offset over time"):
        assert label in page
    assert not re.search(r"https?://|file:|<script|<link|src=\"(?!data:)", page)
    assert '<li class="fail">fail: SSIM' in page and '<li class="pass">pass: audio offset 0.0 ms' in page
    assert len(page) < 1_000_000


@pytest.mark.slow
def test_the_curves_come_from_the_same_passes_and_stay_out_of_the_json(written):
    report, _, _ = written
    ot = report.over_time
    assert len(ot.ssim) == len(ot.psnr) == 6 and int(np.argmin(ot.ssim)) == 3 and int(np.argmin(ot.psnr)) == 3
    assert all(v <= PSNR_CAP_DB for v in ot.psnr)
    assert len(ot.loudness_a) in (6, 7) and ot.loudness_a == ot.loudness_b  # the sound is copied
    assert all(-30 < v < -10 for v in ot.loudness_a[1:5])  # a steady sine at FFmpeg's default amplitude
    assert ot.offset_ms == [0.0] and ot.offset_t_s and ot.offset_t_s[0] == pytest.approx(3.0, abs=0.1)
    data = json.loads(report.to_json())
    assert "over_time" not in data and "checks" not in data
    assert data["failures"] == report.failures and re.fullmatch(r"SSIM 0\.\d{4} < 0\.99", report.failures[0])


def test_per_second_means_cap_psnr_of_identical_frames():
    assert per_second([float("inf"), float("inf"), 40.0, 42.0, 30.0], 2.0, PSNR_CAP_DB) == [100.0, 41.0, 30.0]
    assert per_second([0.5, 1.0, 1.0], 29.97) == [pytest.approx(0.833333)]


def test_ebur128_log_lines_become_loudness_per_second():
    lines = [
        f"[Parsed_ebur128_0 @ 0x1] t: {t / 10:.5f}  TARGET:-23 LUFS    M:{m} S:-20.0     I: -20.0 LUFS"
        for t, m in [(1, "-120.7"), (5, "-20.0"), (10, "-20.0"), (11, "-20.0"), (20, "-30.0"), (31, "-inf")]
    ]
    lufs, seconds = parse_ebur128("\n".join([*lines, "  Integrated loudness:", "    I:         -21.8 LUFS"]))
    assert lufs == -21.8 and len(seconds) == 4
    assert seconds[0] == pytest.approx(10 * np.log10((1e-7 + 2e-2) / 3), abs=0.01)  # power mean, floored
    assert seconds[1] == pytest.approx(10 * np.log10((1e-2 + 1e-3) / 2), abs=0.01)
    assert seconds[2] == seconds[3] == SILENCE_LUFS  # nothing logged in it; -inf


def test_the_offset_over_time_follows_a_jump_and_leaves_silence_out():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000 * 40)
    y = np.concatenate([np.zeros(40), x[:-40]])  # 10 ms late ...
    y[4000 * 20 :] = np.concatenate([np.zeros(120), x[:-120]])[4000 * 20 :]  # ... then 30 ms
    x[4000 * 30 :] = y[4000 * 30 :] = 0  # and silent for the last 10 s
    lag, centres, local = _offsets(x, y, 10.0, 10.0)
    assert lag in (10.0, 30.0) and centres == [5.0, 15.0, 25.0, 35.0] and local == [10.0, 10.0, 30.0, None]


def test_without_matplotlib_the_report_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import raises ImportError
    side = Side("a.mp4", W, H, 10.0, 60, 6.0, None, None)
    with pytest.raises(VgenError) as e:
        write_report(Report(side, side, None, 40.0, 0.99, None, None), tmp_path / "r.html")
    assert "pip install 'vgen[report]'" in str(e.value) and not (tmp_path / "r.html").exists()


def test_every_string_in_the_page_is_escaped():
    side = Side("<script>alert(1)</script>.mp4", W, H, 10.0, 60, 6.0, None, None)
    report = Report(side, side, "b & <b>", float("inf"), 1.0, None, None, failures=["SSIM <x> & more"])
    page = report_html(
        report, [("ssim", "SSIM <per> second", None, "no <frames>")], [], FFmpeg("ffmpeg", None, "9<", "PATH")
    )
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>" not in page and "<x>" not in page
    assert "<per>" not in page and "<frames>" not in page and "inf dB" in page and '<li class="fail">' in page


@pytest.mark.slow
def test_the_cli_writes_the_report_where_it_says(pair, tmp_path):
    from helpers import vgen

    r = vgen("compare", *pair, "--no-vmaf", "--report", tmp_path / "r.html", "--min-ssim", "0.99")
    assert r.returncode == 1  # the damaged second misses the threshold
    assert (
        f"report: {tmp_path / 'r.html'}" in r.stderr.replace("\n", "") and (tmp_path / "r.html").stat().st_size > 10_000
    )
