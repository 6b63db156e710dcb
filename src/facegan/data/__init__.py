"""Datasets: read sources (folders, zips, CelebA, LSUN, CIFAR-10, builtin sets), transform them,
write and read training archives (the stylegan2-ada-pytorch layout), and the training Dataset."""

from facegan.data.archive import Archive, ArchiveWriter
from facegan.data.create import CreateOptions, Report, create_dataset
from facegan.data.dataset import ImageDataset, box_downsample
from facegan.data.info import DatasetInfo, dataset_info, write_preview

__all__ = [
    "Archive",
    "ArchiveWriter",
    "CreateOptions",
    "DatasetInfo",
    "ImageDataset",
    "Report",
    "box_downsample",
    "create_dataset",
    "dataset_info",
    "write_preview",
]
