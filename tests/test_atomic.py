"""Files are written atomically: an interrupted write leaves the old file or none, never half of one."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from facegan.utils.atomic import DiskFullError, atomic_open, atomic_path, atomic_write_text
from facegan.utils.images import make_grid, save_image


def test_successful_write_replaces_the_destination(tmp_path):
    dest = tmp_path / "a.txt"
    dest.write_text("old")
    atomic_write_text(dest, "new")
    assert dest.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    dest = tmp_path / "a.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(dest, "w") as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_full_disk_is_reported_as_such(tmp_path):
    dest = tmp_path / "a.bin"
    with pytest.raises(DiskFullError, match="disk is full"):
        with atomic_path(dest):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_grid_places_images_row_major(tmp_path):
    imgs = np.stack([np.full((2, 3, 3), i, np.uint8) for i in range(5)])
    grid = make_grid(imgs, cols=3)
    assert grid.shape == (4, 9, 3)
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 1 and grid[0, 6, 0] == 2
    assert grid[2, 0, 0] == 3 and grid[2, 3, 0] == 4 and grid[2, 6, 0] == 0  # empty cell stays padding
    save_image(tmp_path / "g.png", grid)
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.png")), grid)


def test_a_new_file_gets_the_usual_permissions_and_an_overwritten_one_keeps_its_own(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
        assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644   # not mkstemp's private 0600
        existing = tmp_path / "script.sh"
        existing.write_text("old")
        existing.chmod(0o755)
        atomic_write_text(existing, "new")
        assert existing.stat().st_mode & 0o777 == 0o755
    finally:
        os.umask(umask)
