"""The training Dataset serves every power-of-two resolution of an archive, mirrored copies and
labels, and works in multi-worker DataLoaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facegan.data import ArchiveWriter, ImageDataset, box_downsample
from facegan.errors import DatasetError


@pytest.fixture
def archive(tmp_path):
    rng = np.random.RandomState(0)
    images = [rng.randint(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(5)]
    with ArchiveWriter(tmp_path / "a.zip") as w:
        for i, img in enumerate(images):
            w.add(img, label=i % 3)
    return tmp_path / "a.zip", images


def test_serves_the_stored_images_as_uint8_chw(archive):
    path, images = archive
    ds = ImageDataset(path)
    assert len(ds) == 5 and ds.resolution == ds.stored_resolution == 16 and ds.image_shape == [3, 16, 16]
    img, label = ds[2]
    assert img.dtype == np.uint8 and img.shape == (3, 16, 16)
    np.testing.assert_array_equal(img, images[2].transpose(2, 0, 1))
    assert label.shape == (0,) and ds.name == "a"


def test_lower_resolutions_are_the_official_mip_levels(archive):
    path, images = archive
    ds = ImageDataset(path, resolution=4)
    img, _ = ds[1]
    # The official multi-resolution TFRecords: 2x2 means in float, repeated, rounded at the end.
    x = images[1].transpose(2, 0, 1).astype(np.float64)
    for _ in range(2):
        x = (x[:, 0::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) * 0.25
    np.testing.assert_array_equal(img, np.rint(x).astype(np.uint8))
    ds.set_resolution(8)
    assert ds[1][0].shape == (3, 8, 8)
    with pytest.raises(DatasetError, match="power of two"):
        ds.set_resolution(32)
    with pytest.raises(DatasetError, match="power of two"):
        ds.set_resolution(12)


def test_xflip_doubles_the_dataset_with_mirrored_copies(archive):
    path, images = archive
    ds = ImageDataset(path, xflip=True)
    assert len(ds) == 10
    np.testing.assert_array_equal(ds[7][0], images[2].transpose(2, 0, 1)[:, :, ::-1])


def test_class_labels_become_one_hot(archive):
    path, _ = archive
    ds = ImageDataset(path, use_labels=True, xflip=True)
    assert ds.has_labels and ds.label_dim == 3
    assert ds[4][1].tolist() == [0, 1, 0] and ds[9][1].tolist() == [0, 1, 0]
    assert ds.get_label(0).dtype == np.float32


def test_use_labels_without_labels_gives_zero_width_labels_as_the_official_loader(tmp_path):
    """stylegan2-ada-pytorch's ImageDataset serves [N, 0] labels when dataset.json has none; so do we
    (docs/datasets.md, "The loader"). Conditioning on such an archive is refused by training instead."""
    with ArchiveWriter(tmp_path / "u.zip") as w:
        w.add(np.zeros((8, 8, 3), np.uint8))
        w.add(np.zeros((8, 8, 3), np.uint8))
    ds = ImageDataset(tmp_path / "u.zip", use_labels=True, xflip=True)
    assert not ds.has_labels and ds.label_dim == 0 and ds.label_shape == [0]
    img, label = ds[3]
    assert img.shape == (3, 8, 8) and label.shape == (0,) and label.dtype == np.float32


def test_max_size_takes_a_seeded_subset(archive):
    path, _ = archive
    a = ImageDataset(path, max_size=3, random_seed=1)
    b = ImageDataset(path, max_size=3, random_seed=1)
    assert len(a) == 3
    for i in range(3):
        np.testing.assert_array_equal(a[i][0], b[i][0])


def test_plain_folders_of_square_images_load(tmp_path):
    from PIL import Image

    (tmp_path / "f").mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(tmp_path / "f" / f"{i}.png")
    ds = ImageDataset(tmp_path / "f")
    assert ds.num_channels == 1 and ds[1][0].max() == 10


def test_multi_worker_dataloader_gives_the_same_batches(archive):
    path, _ = archive
    ds = ImageDataset(path, resolution=8, use_labels=True, cache_bytes=1 << 20)
    serial = [b for b in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)]
    parallel = [b for b in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)]
    assert len(serial) == len(parallel) == 3
    for (xa, ya), (xb, yb) in zip(serial, parallel):
        assert xa.dtype == torch.uint8 and xa.shape[1:] == (3, 8, 8)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_cache_does_not_change_what_is_served(archive):
    path, _ = archive
    plain = ImageDataset(path, resolution=4)
    cached = ImageDataset(path, resolution=4, cache_bytes=1 << 20)
    for _ in range(2):
        for i in range(5):
            np.testing.assert_array_equal(plain[i][0], cached[i][0])
    assert len(cached._cache) == 5


def test_box_downsample_of_a_constant_is_the_constant():
    img = np.full((1, 8, 8), 7, np.uint8)
    np.testing.assert_array_equal(box_downsample(img, 4), np.full((1, 2, 2), 7, np.uint8))


@pytest.mark.parametrize("factor", [2, 4, 8, 32])
def test_box_downsample_equals_the_rounded_float_mean(factor):
    rng = np.random.RandomState(factor)
    img = rng.randint(0, 256, (2, 64, 64), dtype=np.uint8)
    img[0, :factor, :factor] = 0
    img[0, 0, 0] = 2 * factor * factor // 2 // factor  # make exact .5 ties likely somewhere
    expected = np.rint(img.reshape(2, 64 // factor, factor, 64 // factor, factor).mean(axis=(2, 4)))
    np.testing.assert_array_equal(box_downsample(img, factor), expected.astype(np.uint8))
    ties = np.full((1, 2, 2), 0, np.uint8)
    ties[0, 0, :] = 1  # mean 0.5 -> 0 (even); 1.5 -> 2
    assert box_downsample(ties, 2)[0, 0, 0] == 0
    assert box_downsample(np.array([[[1, 2], [1, 2]]], np.uint8), 2)[0, 0, 0] == 2


def test_max_size_picks_the_same_subset_as_the_official_loader(tmp_path):
    with ArchiveWriter(tmp_path / "n.zip") as w:
        for i in range(10):
            w.add(np.full((4, 4, 1), i, np.uint8))
    ds = ImageDataset(tmp_path / "n.zip", max_size=4, random_seed=7)
    official = np.arange(10)
    np.random.RandomState(7).shuffle(official)  # stylegan2-ada-pytorch: shuffle, keep max_size, sort
    assert [int(ds[i][0][0, 0, 0]) for i in range(4)] == sorted(official[:4].tolist())


def test_changing_the_resolution_drops_the_cache_of_the_old_one(archive):
    path, images = archive
    ds = ImageDataset(path, resolution=4, cache_bytes=1 << 20)
    ds[0]
    ds.set_resolution(16)
    assert ds._cache == {}
    np.testing.assert_array_equal(ds[0][0], images[0].transpose(2, 0, 1))


def test_plain_folders_of_other_image_modes_are_converted_soundly(tmp_path):
    from PIL import Image

    (tmp_path / "f").mkdir()
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "f" / "a.png")
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "f" / "b.jpg", quality=100)
    ds = ImageDataset(tmp_path / "f")
    assert ds.num_channels == 3 and ds[0][0][:, 0, 0].tolist() == [200, 0, 0]
    assert abs(int(ds[1][0][0, 0, 0]) - 90) <= 1


def test_a_broken_image_in_an_archive_is_named(tmp_path):
    (tmp_path / "f").mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "f" / "a.png")
    (tmp_path / "f" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = ImageDataset(tmp_path / "f")
    with pytest.raises(DatasetError, match="b.png"):
        ds[1]
