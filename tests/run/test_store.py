"""The segment store: its lock, its manifest, the checks before a piece is reused, cleaning up."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from vgen.errors import VgenError
from vgen.run.store import MANIFEST, Store

from helpers import run_ff


@pytest.fixture(scope="module")
def pieces(ff, tmp_path_factory) -> dict[str, Path]:
    """A real 10-frame MP4 segment and a real 1 s AAC piece (read-only: tests copy them)."""
    d = tmp_path_factory.mktemp("pieces")
    video, sound = d / "seg-00000-0123456789abcdef.mp4", d / "audio-0123456789abcdef.m4a"
    run_ff(ff, "-f", "lavfi", "-i", "testsrc=s=64x36:r=10", "-frames:v", "10", "-c:v", "libx264", str(video))
    run_ff(ff, "-f", "lavfi", "-i", "sine=f=440:r=48000:d=1", "-c:a", "aac", "-f", "mp4", str(sound))
    return {"video": video, "audio": sound}


def stored(store: Store, src: Path) -> Path:
    store.dir.mkdir(parents=True, exist_ok=True)
    dst = store.dir / src.name
    shutil.copy(src, dst)
    return dst


def edit_manifest(store: Store, name: str, **changes) -> None:
    m = json.loads((store.dir / MANIFEST).read_text())
    m["pieces"][name].update(changes)
    (store.dir / MANIFEST).write_text(json.dumps(m))


# --- the lock -------------------------------------------------------------------------------


def test_a_second_lock_on_the_same_folder_is_refused(tmp_path):
    first = Store(tmp_path / "work")
    first.lock()
    try:
        assert (tmp_path / "work" / ".lock").read_text() == str(os.getpid())
        with pytest.raises(VgenError, match="in use by another vgen render"):
            Store(tmp_path / "work").lock()
        Store(tmp_path / "other").lock()  # another folder is another store
    finally:
        first.unlock()
    second = Store(tmp_path / "work")
    second.lock()  # free again once unlocked
    second.unlock()


def test_unlock_without_a_lock_is_harmless(tmp_path):
    Store(tmp_path).unlock()


# --- the manifest ---------------------------------------------------------------------------


def test_record_piece_writes_size_and_sha256(tmp_path):
    store = Store(tmp_path)
    piece = tmp_path / "seg-00001-x.mp4"
    piece.write_bytes(b"some bytes")
    store.record_piece(piece, {"frames": 12})
    data = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert data["pieces"]["seg-00001-x.mp4"] == {
        "frames": 12,
        "size": 10,
        "sha256": hashlib.sha256(b"some bytes").hexdigest(),
    }
    other = tmp_path / "audio-y.m4a"
    other.write_bytes(b"xyz")
    store.record_piece(other, {})
    assert set(store.manifest()["pieces"]) == {"seg-00001-x.mp4", "audio-y.m4a"}  # the first entry is kept
    assert not list(tmp_path.glob(".*.partial"))


def test_the_manifest_is_replaced_atomically(tmp_path, monkeypatch):
    """A write that fails half-way leaves the old manifest whole (readers see old or new, never half)."""
    store = Store(tmp_path)
    piece = tmp_path / "seg-00001-x.mp4"
    piece.write_bytes(b"one")
    store.record_piece(piece, {})
    before = (tmp_path / MANIFEST).read_text()

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    piece2 = tmp_path / "seg-00002-y.mp4"
    piece2.write_bytes(b"two")
    with pytest.raises(OSError, match="disk gone"):
        store.record_piece(piece2, {})
    monkeypatch.undo()
    assert (tmp_path / MANIFEST).read_text() == before
    left = list(tmp_path.glob(".*.partial"))
    assert len(left) == 1 and "seg-00002-y.mp4" in left[0].read_text()  # the new one, under a partial name
    store.discard_partials()
    assert not list(tmp_path.glob(".*.partial"))


def test_an_unreadable_manifest_reads_as_empty(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    assert Store(tmp_path).manifest() == {"version": 1, "pieces": {}}
    assert Store(tmp_path / "missing").manifest() == {"version": 1, "pieces": {}}


# --- reuse checks ---------------------------------------------------------------------------


def test_a_recorded_video_piece_is_valid_with_its_frame_count_only(ff, pieces, tmp_path):
    store = Store(tmp_path)
    piece = stored(store, pieces["video"])
    store.record_piece(piece, {})
    assert store.valid_video(ff, piece, 10)
    assert not store.valid_video(ff, piece, 9) and not store.valid_video(ff, piece, 11)


@pytest.mark.parametrize("field", ["size", "sha256"])
def test_a_video_piece_that_differs_from_its_record_is_refused(ff, pieces, tmp_path, field):
    store = Store(tmp_path)
    piece = stored(store, pieces["video"])
    store.record_piece(piece, {})
    edit_manifest(store, piece.name, **{field: 1 if field == "size" else "0" * 64})
    assert not store.valid_video(ff, piece, 10)


def test_a_video_piece_changed_on_disk_is_refused(ff, pieces, tmp_path):
    store = Store(tmp_path)
    piece = stored(store, pieces["video"])
    store.record_piece(piece, {})
    with piece.open("ab") as f:
        f.write(b"\0" * 8)  # trailing junk: FFmpeg still reads 10 frames, the record says otherwise
    assert not store.valid_video(ff, piece, 10)
    fresh = Store(tmp_path / "fresh")  # a store without a record of it must decode it, and it does
    assert fresh.valid_video(ff, stored(fresh, piece), 10)


def test_an_unrecorded_video_piece_is_decoded(ff, pieces, tmp_path):
    store = Store(tmp_path)
    piece = stored(store, pieces["video"])
    assert store.valid_video(ff, piece, 10) and not store.valid_video(ff, piece, 12)
    junk = tmp_path / "seg-00009-junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    assert not store.valid_video(ff, junk, 10)
    empty = tmp_path / "seg-00010-empty.mp4"
    empty.touch()
    store.record_piece(empty, {})
    assert not store.valid_video(ff, empty, 0)
    assert not store.valid_video(ff, tmp_path / "seg-missing.mp4", 10)


def test_a_recorded_audio_piece_is_checked_by_length(ff, pieces, tmp_path):
    store = Store(tmp_path)
    piece = stored(store, pieces["audio"])
    store.record_piece(piece, {})
    assert store.valid_audio(ff, piece, 1.0, 0.05)
    assert not store.valid_audio(ff, piece, 1.5, 0.05)


@pytest.mark.parametrize("field", ["size", "sha256"])
def test_an_audio_piece_that_differs_from_its_record_is_refused(ff, pieces, tmp_path, field):
    store = Store(tmp_path)
    piece = stored(store, pieces["audio"])
    store.record_piece(piece, {})
    edit_manifest(store, piece.name, **{field: 1 if field == "size" else "f" * 64})
    assert not store.valid_audio(ff, piece, 1.0, 0.05)


def test_an_audio_piece_changed_on_disk_is_refused(ff, pieces, tmp_path):
    store = Store(tmp_path)
    piece = stored(store, pieces["audio"])
    store.record_piece(piece, {})
    with piece.open("ab") as f:
        f.write(b"\0" * 8)
    assert not store.valid_audio(ff, piece, 1.0, 0.05)
    fresh = Store(tmp_path / "fresh")
    assert fresh.valid_audio(ff, stored(fresh, piece), 1.0, 0.05)


# --- partials and cleaning ------------------------------------------------------------------


def test_discard_partials_removes_only_partial_files(tmp_path):
    keep = ["seg-00000-a.mp4", "manifest.json", "x.partial", ".hidden", "notes.partial.txt"]
    gone = [".seg-00000-a.mp4.partial", ".manifest.json.123.456.partial"]
    for name in keep + gone:
        (tmp_path / name).write_text(name)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".deep.partial").write_text("x")
    Store(tmp_path).discard_partials()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "sub"])
    assert (tmp_path / "sub" / ".deep.partial").exists()  # the store is one folder


def fill_store(d: Path) -> int:
    d.mkdir(parents=True, exist_ok=True)
    owned = {
        "seg-00000-abc.mp4": 100,
        "seg-00000-abc.graph.txt": 7,
        "seg-00001-def.source.json": 9,
        "audio-0123.m4a": 50,
        "audio-0123.graph.txt": 3,
        "loudness-0123.graph.txt": 4,
        "captions-99.ass": 11,
        "segments.txt": 20,
        ".seg-00002-ghi.mp4.partial": 5,
    }
    for name, size in owned.items():
        (d / name).write_bytes(b"x" * size)
    store = Store(d)
    store.record(d.name, {"x": 1})
    return sum(owned.values()) + (d / MANIFEST).stat().st_size


def test_clean_removes_the_store_and_its_folder(tmp_path):
    work = tmp_path / ".out.vgen"
    size = fill_store(work)
    assert Store(work).clean() == size
    assert not work.exists()


def test_clean_keeps_everything_else(tmp_path):
    work = tmp_path / "work"
    size = fill_store(work)
    mine = ["notes.txt", "out.mp4", "spec.yaml", ".config"]
    for name in mine:
        (work / name).write_text("user")
    (work / "seg-folder.d").mkdir()  # a folder is never removed, whatever its name
    assert Store(work).clean() == size
    assert sorted(p.name for p in work.iterdir()) == sorted([*mine, "seg-folder.d"])


def test_clean_refuses_a_folder_that_is_not_a_store(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("spec.yaml", "audio-notes.m4a", "segments.txt"):
        (project / name).write_text("mine")
    with pytest.raises(VgenError, match="does not look like a vgen store"):
        Store(project).clean()
    assert sorted(p.name for p in project.iterdir()) == ["audio-notes.m4a", "segments.txt", "spec.yaml"]
    assert Store(tmp_path / "nowhere").clean() == 0


def test_clean_refuses_a_store_in_use(tmp_path):
    work = tmp_path / "work"
    fill_store(work)
    busy = Store(work)
    busy.lock()
    try:
        before = sorted(p.name for p in work.iterdir())
        with pytest.raises(VgenError, match="in use"):
            Store(work).clean()
        assert sorted(p.name for p in work.iterdir()) == before
    finally:
        busy.unlock()
