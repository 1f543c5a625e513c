"""Partial-file naming, atomic writes, discarding interrupted writes, memoised file hashes."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import threading
from pathlib import Path

import pytest

from vgen import files
from vgen.files import PARTIAL_GLOB, atomic_write_text, discard_partials, file_digest, partial_path


def test_partial_path_is_a_hidden_sibling():
    p = partial_path(Path("/w/seg-00001-abc.mp4"))
    assert p == Path("/w/.seg-00001-abc.mp4.partial")
    assert fnmatch.fnmatch(p.name, PARTIAL_GLOB)
    assert partial_path(Path("out.mp4")) == Path(".out.mp4.partial")


def test_a_unique_partial_path_names_the_process_and_thread():
    p = partial_path(Path("/w/manifest.json"), unique=True)
    assert p.parent == Path("/w")
    assert p.name == f".manifest.json.{os.getpid()}.{threading.get_ident()}.partial"
    assert fnmatch.fnmatch(p.name, PARTIAL_GLOB)
    seen = []
    t = threading.Thread(target=lambda: seen.append(partial_path(Path("/w/manifest.json"), unique=True)))
    t.start()
    t.join()
    assert seen[0] != p and seen[0] != partial_path(Path("/w/manifest.json"))


def test_atomic_write_text_writes_replaces_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "new" / "folder" / "notes.json"
    atomic_write_text(target, "first — ü\n")
    assert target.read_text(encoding="utf-8") == "first — ü\n"
    atomic_write_text(target, "second")
    assert target.read_text(encoding="utf-8") == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.json"]


def test_atomic_write_text_never_shows_a_half_written_file(tmp_path, monkeypatch):
    target = tmp_path / "notes.txt"
    atomic_write_text(target, "old")

    def fail(tmp, final):
        raise OSError("no space left")

    monkeypatch.setattr(files, "fsync_rename", fail)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    (left,) = tmp_path.glob(PARTIAL_GLOB)
    assert left.read_text() == "new"


def make_tree(root: Path) -> None:
    for rel in (".a.mp4.partial", "keep.mp4", "b.partial", ".hidden", "sub/.c.partial", "sub/deeper/.d.txt.partial"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_discard_partials_in_one_folder(tmp_path):
    make_tree(tmp_path)
    discard_partials(tmp_path)
    assert listing(tmp_path) == [".hidden", "b.partial", "keep.mp4", "sub/.c.partial", "sub/deeper/.d.txt.partial"]


def test_discard_partials_recursively(tmp_path):
    make_tree(tmp_path)
    discard_partials(tmp_path, recursive=True)
    assert listing(tmp_path) == [".hidden", "b.partial", "keep.mp4"]
    assert (tmp_path / "sub" / "deeper").is_dir()  # folders stay


def test_discard_partials_of_a_missing_folder_does_nothing(tmp_path):
    discard_partials(tmp_path / "missing")
    discard_partials(tmp_path / "missing", recursive=True)


def test_file_digest_is_the_sha256_and_follows_the_content(tmp_path):
    p = tmp_path / "slide.jpg"
    p.write_bytes(b"one")
    assert file_digest(p) == hashlib.sha256(b"one").hexdigest()
    p.write_bytes(b"three")  # another size
    assert file_digest(p) == hashlib.sha256(b"three").hexdigest()
    st = p.stat()
    p.write_bytes(b"eerht")  # same size, another mtime
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert file_digest(p) == hashlib.sha256(b"eerht").hexdigest()


def test_file_digest_is_memoised_per_path_size_and_mtime(tmp_path, monkeypatch):
    calls = []
    real = files.file_sha256

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(files, "file_sha256", counting)
    files._digest.cache_clear()
    p = tmp_path / "big.png"
    p.write_bytes(b"pixels")
    first = file_digest(p)
    assert file_digest(p) == first and len(calls) == 1  # a slide shown in many segments: hashed once
    st = p.stat()
    p.write_bytes(b"PIXELS")  # same size, and the mtime put back: taken for the same file
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_digest(p) == first and len(calls) == 1
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert file_digest(p) == hashlib.sha256(b"PIXELS").hexdigest() and len(calls) == 2
    other = tmp_path / "other.png"
    other.write_bytes(b"pixels")
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_digest(other) == first and len(calls) == 3  # another path is hashed on its own
    files._digest.cache_clear()


def test_file_digest_of_a_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        file_digest(tmp_path / "gone.jpg")
