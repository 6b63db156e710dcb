"""CelebA: the aligned photos (`img_align_celeba/`, 178x218 JPEGs, or the `img_align_celeba_png/`
the official StyleGAN tool expects), cropped around the face by default (the `celeba` transform),
with the 40 attributes of `list_attr_celeba.txt` as labels on request.

Accepted layouts: the folder itself, a folder holding it, or the Google Drive layout
`Img/img_align_celeba/` with `Anno/list_attr_celeba.txt`."""

from __future__ import annotations

from pathlib import Path

from facegan.data.archive import is_image_name
from facegan.data.sources.base import Source, SourceItem
from facegan.errors import ConfigError, DatasetError

IMAGE_FOLDERS = ("img_align_celeba", "img_align_celeba_png")
ATTRIBUTE_FILE = "list_attr_celeba.txt"


def find_celeba_images(root: Path) -> Path | None:
    """The folder of aligned photos at or below `root`, or None when `root` is not CelebA."""
    if root.name in IMAGE_FOLDERS:
        return root
    for base in (root, root / "Img"):
        for name in IMAGE_FOLDERS:
            if (base / name).is_dir():
                return base / name
    return None


def read_celeba_attributes(path: Path) -> tuple[list[str], dict[str, list[float]]]:
    """list_attr_celeba.txt: a count line, a line of 40 names, then 'file v1 ... v40' with +-1.
    Returns the names and, per file, the attributes as 0/1 floats."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if len(lines) < 2:
        raise DatasetError(f"{path}: too short to be {ATTRIBUTE_FILE}")
    names = lines[1].split()
    table: dict[str, list[float]] = {}
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DatasetError(f"{path}:{n}: expected a file name and {len(names)} values, got {len(parts)} fields")
        try:
            values = [int(v) for v in parts[1:]]
        except ValueError:
            values = []
        if len(values) != len(names) or any(v not in (1, -1) for v in values):
            raise DatasetError(f"{path}:{n}: attribute values must be 1 or -1")
        table[parts[0]] = [1.0 if v > 0 else 0.0 for v in values]
    return names, table


def _attribute_file(img_dir: Path) -> Path | None:
    candidates = [img_dir.parent / ATTRIBUTE_FILE, img_dir.parent / "Anno" / ATTRIBUTE_FILE,
                  img_dir.parent.parent / "Anno" / ATTRIBUTE_FILE]
    return next((p for p in candidates if p.is_file()), None)


def open_celeba(root: Path, labels: str = "auto") -> Source:
    img_dir = find_celeba_images(root)
    if img_dir is None:
        raise DatasetError(f"{root}: no img_align_celeba folder in it")
    if labels not in ("auto", "none", "attributes"):
        raise ConfigError(f"--labels for CelebA must be none or attributes, got {labels!r}")
    use_attributes = labels == "attributes"
    attr_file = _attribute_file(img_dir)
    if use_attributes and attr_file is None:
        raise DatasetError(f"--labels attributes: no {ATTRIBUTE_FILE} beside {img_dir} (or in Anno/)")
    names, table = read_celeba_attributes(attr_file) if use_attributes else ([], {})
    files = sorted(p for p in img_dir.iterdir() if p.is_file() and is_image_name(p.name))
    by_stem: dict[str, list[float]] = {}
    if use_attributes:
        # A photo with no attribute line would leave the archive without labels (dataset.json needs
        # one per image); compare by stem, so the PNG version matches the JPEG names of the file.
        by_stem = {Path(k).stem: v for k, v in table.items()}
        missing = [p.name for p in files if p.stem not in by_stem]
        if missing:
            raise DatasetError(f"{attr_file}: no attributes for {len(missing)} photos, e.g. {missing[0]}")

    def items():
        for p in files:
            yield SourceItem(p.name, p.read_bytes, by_stem[p.stem] if use_attributes else None, p.stat().st_size)

    src = Source(f"CelebA {img_dir}", len(files), items, default_transform="celeba", label_names=names or None)
    if use_attributes:
        src.notes.append(f"labels: the {len(names)} CelebA attributes as 0/1 vectors ({', '.join(names[:3])}, ...)")
    elif attr_file is not None:
        src.notes.append(f"{attr_file.name} found: --labels attributes would add the attributes as labels")
    return src
