"""What every source hands to `create_dataset`: a length, and the items one by one."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facegan.errors import DatasetError


@dataclass(frozen=True)
class SourceItem:
    name: str                                   # Where the image came from (for the report).
    read: Callable[[], bytes | np.ndarray]      # Encoded bytes, or a uint8 HWC array.
    label: Any = None                           # An int class, a list of floats, or None.
    size: int | None = None                     # Bytes to read, when known before reading.


@dataclass
class Source:
    description: str                            # e.g. "folder photos/", for the report.
    count: int                                  # How many items `items()` yields.
    items: Callable[[], Iterator[SourceItem]]   # A fresh iterator over the items, in order.
    default_channels: int = 3                   # 1 for grayscale sources.
    default_transform: str | None = None        # e.g. 'celeba' for CelebA.
    label_names: list[str] | None = None        # Names of the label entries, when known.
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[SourceItem]:
        return self.items()


def labels_from_dataset_json(text: bytes | str, where: str) -> dict[str, Any]:
    """The labels of a stylegan2-ada-pytorch dataset.json, by archive name ({} when null)."""
    try:
        meta = json.loads(text)
        labels = meta.get("labels") if isinstance(meta, dict) else None
        return {str(name): value for name, value in labels} if labels else {}
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{where}: dataset.json is not valid ({exc})") from None
