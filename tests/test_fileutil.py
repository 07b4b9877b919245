import os

import pytest

from vqspeech.fileutil import atomic_dir, atomic_path, write_text_atomic


def test_atomic_path_publishes_with_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "d") as d:
            (d / "f").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_failure_leaves_previous_content(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert (tmp_path / "a.txt").read_text() == "old"
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("2")
        raise RuntimeError
    assert (tmp_path / "d" / "f").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "d"]


def test_atomic_dir_replaces_existing(tmp_path):
    with atomic_dir(tmp_path / "d") as d:
        (d / "old").write_text("1")
    with atomic_dir(tmp_path / "d") as d:
        (d / "new").write_text("2")
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
