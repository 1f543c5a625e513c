"""`vgen thumbnail`: YouTube's size and weight, the exact frame, the title drawn as text."""

from __future__ import annotations

import numpy as np
import pytest

from vgen.tools.frame import render_frame
from vgen.tools.thumbnail import render_thumbnail

from helpers import base_spec, rgb_frame, vgen, write_spec


@pytest.mark.slow
def test_a_thumbnail_is_the_frame_at_its_time_with_the_title_at_1280x720_under_2_mb(ff, media, tmp_path):
    spec = base_spec(w=640, h=360, fps=10)
    spec["slides"] = [{"image": str(media["land"]), "duration": 3, "ken_burns": "zoom-in"}]
    path = write_spec(tmp_path, spec)
    bare = render_thumbnail(path, tmp_path / "bare.jpg", 1.5, ff=ff)
    titled = vgen("thumbnail", path, "--at", "1.5", "--title", "Roads {\\fs400} of Rome", "-o", tmp_path / "t.jpg")
    assert titled.returncode == 0 and bare.frame == 15, titled.stderr
    assert "1280x720 JPEG" in titled.stdout and "frame 15" in titled.stdout
    a, b = (rgb_frame(ff, tmp_path / n, 0, 1280, 720).astype(np.float64) for n in ("bare.jpg", "t.jpg"))
    assert (tmp_path / "t.jpg").stat().st_size < 2 * 1024 * 1024
    frame = render_frame(path, tmp_path / "f.png", at=1.5, ff=ff).path
    scaled = rgb_frame(ff, frame, 0, 640, 360).astype(np.float64)
    assert abs(a[::2, ::2] - scaled).mean() < 6  # the same picture, doubled (JPEG and scaling aside)
    rows = np.nonzero((abs(a - b).max(axis=2) > 60).any(axis=1))[0]
    assert rows.size > 30 and rows.min() > 720 / 2 and rows.max() - rows.min() < 200  # one line, low, not {\fs400}
