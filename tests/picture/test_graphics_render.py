"""Graphics on real renders: a logo's alpha blend, its opacity and frames; a title only during its
event and in its area; the spoken word highlighted; hostile text as text; both compositors and
`vgen frame` agree. Renders are lossless (x264 at quality 0), so pixels can be checked exactly."""

from __future__ import annotations

import numpy as np
import pytest

from vgen.pipeline import prepare
from vgen.run.render import render
from vgen.tools import samples
from vgen.tools.frame import render_frame

from helpers import base_spec, rgb_frame, run_ff, write_spec, yuv_frames

W, H, FPS = 320, 180, 10
BG = (48, 96, 160)  # RGB of the slides' flat colour
LOGO = (255, 204, 0)  # the logo's colour; its left half opaque, its right half alpha 128


def bt709(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """Limited-range BT.709 Y, Cb, Cr of an RGB colour (what the slides and the logo convert to)."""
    r, g, b = (c / 255 for c in rgb)
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748


def planes(row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = W * H
    return row[:n].reshape(H, W), row[n : n * 5 // 4].reshape(H // 2, W // 2), row[n * 5 // 4 :].reshape(H // 2, W // 2)


@pytest.fixture(scope="module")
def scene(ff, tmp_path_factory):
    d = tmp_path_factory.mktemp("graphics")
    run_ff(ff, "-f", "lavfi", "-i", f"color=c=0x{bytes(BG).hex()}:s=64x36", "-frames:v", "1", str(d / "bg.png"))
    geq = f"geq=r={LOGO[0]}:g={LOGO[1]}:b={LOGO[2]}:a='if(lt(X,W/2),255,128)'"
    run_ff(
        ff, "-f", "lavfi", "-i", "color=c=black:s=64x32,format=rgba", "-vf", geq, "-frames:v", "1", str(d / "logo.png")
    )
    spec = base_spec(w=W, h=H, fps=FPS)
    spec["output"]["quality"] = 0  # lossless
    spec["defaults"] = {"ken_burns": "none", "transition": {"type": "slideleft", "duration": 0.6}}
    spec["slides"] = [{"image": "bg.png", "duration": 2.5}, {"image": "bg.png", "duration": 1.5}]
    spec["overlays"] = [
        {
            "image": "logo.png",
            "position": "top-left",
            "width": 0.2,
            "margin": 0.05,
            "opacity": 0.5,
            "start": 0.5,
            "end": 3,
        }
    ]
    # Hostile text: override tags, a literal \N and braces must render as text, at the style's size.
    spec["titles"] = [{"text": "{\\fs300}Big{\\c&HFF&} \\N}{", "at": {"time": "00:00:01"}, "duration": 1}]
    path = write_spec(d, spec)
    raw = render(prepare(path, ff))
    spec["output"]["path"] = "ff.mp4"
    ff_path = write_spec(d, spec, "ffmpeg.yaml")
    via_ffmpeg = render(prepare(ff_path, ff, compositor="ffmpeg"))
    return path, yuv_frames(ff, raw.output, W, H), yuv_frames(ff, via_ffmpeg.output, W, H)


LOGO_BOX = (8, 8, 64, 32)  # x, y, w, h: width 0.2 of 320, margin 0.05 of 180 -> even 8


@pytest.mark.slow
def test_the_logo_is_the_alpha_blend_of_its_png_at_its_corner_for_its_frames(scene):
    _, frames, _ = scene
    x, y, w, h = LOGO_BOX
    before, during, after = planes(frames[4]), planes(frames[7]), planes(frames[30])
    bg, logo = bt709(BG), bt709(LOGO)
    for alpha, cols in ((1.0, slice(x + 2, x + w // 2 - 2)), (128 / 255, slice(x + w // 2 + 2, x + w - 2))):
        a = 0.5 * alpha  # opacity once, over the PNG's own alpha
        want = [bg[i] * (1 - a) + logo[i] * a for i in range(3)]
        got_y = during[0][y + 2 : y + h - 2, cols]
        got_c = [p[(y + 2) // 2 : (y + h - 2) // 2, cols.start // 2 : cols.stop // 2] for p in during[1:]]
        assert abs(got_y - want[0]).max() <= 2, (alpha, got_y.mean(), want[0])
        assert all(abs(c - v).max() <= 2 for c, v in zip(got_c, want[1:])), (alpha, [c.mean() for c in got_c], want)
    # Frame 4 is before its start (0.5 s), frame 30 at its end (3 s): no logo; outside its box
    # (and the title's, off at these frames) the frame is untouched.
    assert np.array_equal(before[0], after[0]) and abs(before[0] - bg[0]).max() <= 1
    outside = np.ones((H, W), bool)
    outside[y - 2 : y + h + 2, x - 2 : x + w + 2] = False
    assert np.array_equal(during[0][outside], before[0][outside])
    first_on = next(
        i
        for i in range(len(frames))
        if not np.array_equal(planes(frames[i])[0][y : y + h, x : x + w], before[0][y : y + h, x : x + w])
    )
    assert first_on == 5  # 0.5 s at 10 fps


@pytest.mark.slow
def test_a_title_shows_only_during_its_event_in_its_area_and_hostile_text_stays_text(scene):
    _, frames, _ = scene
    clean = planes(frames[4])[0]
    changed = [int((np.abs(planes(f)[0] - clean) > 8).sum()) for f in frames[:25]]
    on = [i for i, n in enumerate(changed) if n and i not in range(5, 25)]  # outside the logo's frames too
    assert on == []
    diff = np.abs(planes(frames[15])[0] - clean) > 8
    diff[: LOGO_BOX[1] + LOGO_BOX[3] + 2, : LOGO_BOX[0] + LOGO_BOX[2] + 2] = False  # the logo's corner
    rows, cols = np.nonzero(diff)
    assert rows.size > 50  # the title is drawn
    # Centred, one line at the title style's size (84 px at 1080p: 14 px here), not {\fs300}'s.
    assert abs((rows.min() + rows.max()) / 2 - H / 2) < 8 and rows.max() - rows.min() < 30
    assert abs((cols.min() + cols.max()) / 2 - W / 2) < 12
    for i in (9, 20):  # the frames just before and after 1 s .. 2 s
        d = np.abs(planes(frames[i])[0] - clean) > 8
        d[: LOGO_BOX[1] + LOGO_BOX[3] + 2, : LOGO_BOX[0] + LOGO_BOX[2] + 2] = False
        assert not d.any(), i


@pytest.mark.slow
def test_both_compositors_and_vgen_frame_show_the_same_graphics(ff, scene, tmp_path):
    path, raw, via_ffmpeg = scene
    assert raw.shape == via_ffmpeg.shape
    n = W * H
    # Luma: the same blend arithmetic. (FFmpeg's xfade leaves one corner pixel black on the first
    # frame of a slideleft over 4:4:4 input: a quirk of the reference path, not of the graphics.)
    assert (abs(raw[:, :n] - via_ffmpeg[:, :n]) > 1).sum() <= 2
    assert abs(raw[:, n:] - via_ffmpeg[:, n:]).mean() < 0.2  # chroma: edges downsampled differently
    got = render_frame(path, tmp_path / "f.png", at=1.5, ff=ff)  # logo and title both on
    assert got.frame == 15
    frame = rgb_frame(ff, got.path, 0, W, H).astype(np.float64)
    rendered = rgb_frame(ff, path.parent / "out.mp4", 15, W, H, bt709_in=True).astype(np.float64)
    assert abs(frame - rendered).max() <= 2  # the same picture, through the same RGB conversion


@pytest.mark.slow
def test_the_spoken_word_is_highlighted_only_while_it_is_spoken(ff, tmp_path):
    samples.tone(ff, tmp_path / "n.wav", 2.4)
    (tmp_path / "w.json").write_text(
        '[{"word": "one", "start": 0.3, "end": 0.7}, {"word": "two", "start": 1.0, "end": 1.4},'
        ' {"word": "three.", "start": 1.6, "end": 2.0}]'
    )
    run_ff(ff, "-f", "lavfi", "-i", "color=c=0x303030:s=64x36", "-frames:v", "1", str(tmp_path / "bg.png"))
    spec = base_spec(w=W, h=H, fps=FPS)
    spec["defaults"] = {"ken_burns": "none"}
    spec["slides"] = [{"image": "bg.png", "narration": "n.wav", "words": "w.json", "text": "one two three."}]
    spec["subtitles"] = {"from": "text", "highlight": "#FF0000", "style": {"size": 30}}
    out = render(prepare(write_spec(tmp_path, spec), ff)).output
    frames = yuv_frames(ff, out, W, H)
    n = W * H
    red_v = bt709((255, 0, 0))[2]
    # Red: Cr far above the grey's 128 (white text stays near 128).
    red = [int((frames[i, n * 5 // 4 :] > (128 + red_v) / 2).sum()) for i in range(len(frames))]
    assert red[2] == 0  # 0.2 s: before the first word
    assert all(red[i] > 5 for i in (4, 5, 6))  # "one" spoken: 0.3 .. 0.7 s
    assert red[8] == 0 and red[9] == 0  # the pause between "one" and "two": the text, unhighlighted
    assert all(red[i] > 5 for i in (11, 12, 13))  # "two"
