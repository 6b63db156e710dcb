"""NVIDIA's released networks by name, and turning any network argument into a local file.

    PRETRAINED                 the one table of official networks (docs/pretrained.md shows it)
    lookup(name)               an entry by name or alias
    resolve_network(spec)      a path, an http(s) URL, hf://owner/repo/file or a name -> a local file
    validate_network_file(p)   what the cache asks of a network before keeping it

URLs are those of NVIDIA's READMEs and scripts (stylegan `README.md`, stylegan2 `pretrained_networks.py`,
stylegan2-ada-pytorch `README.md` and `train.py`'s transfer-learning `--resume` names, stylegan3
`README.md`), fallbacks where NVIDIA moved the files between hosts. NVIDIA publishes no checksums and
no exact sizes, so `sha256` and `size` stay None until they can be checked against a published source;
the cache records each file's SHA-256 on first download and checks it on every later use.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from facegan.errors import NetworkFormatError
from facegan.interop.download import Remote, fetch, is_offline, url_remote

# family (facegan.interop.load.FORMATS) -> the function that imports it
IMPORTERS = {
    "stylegan-tf": "facegan.interop.stylegan_tf:convert_stylegan_tf",
    "stylegan2-tf": "facegan.interop.stylegan2_tf:convert_stylegan2_tf",
    "stylegan2-ada-pytorch": "facegan.interop.stylegan2_pytorch:convert_snapshot",
    "stylegan3": "facegan.interop.stylegan2_pytorch:convert_snapshot",
}

CC_BY_NC = "CC BY-NC 4.0"
NSCL_NC = "NVIDIA Source Code License-NC"
NSCL = "NVIDIA Source Code License (non-commercial)"

_DRIVE = "https://drive.google.com/uc?id="
_SG2 = ("https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/", "http://d36zk2xti64re0.cloudfront.net/stylegan2/networks/")
_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/"


@dataclass(frozen=True)
class Pretrained:
    name: str
    family: str                     # a key of IMPORTERS
    resolution: int                 # the generator's output (cars: 512x384 content in a 512² frame)
    dataset: str
    filename: str                   # NVIDIA's file name (FACEGAN_MIRROR serves it under this name)
    urls: tuple[str, ...]           # official locations, tried in order
    licence: str
    aliases: tuple[str, ...] = ()
    size: int | None = None         # bytes, where published
    sha256: str | None = None       # where published

    @property
    def remote(self) -> Remote:
        return Remote(f"networks/{self.name}/{self.filename}", self.urls, self.sha256, self.size, mirrorable=True)


def _v1(dataset: str, res: int, short: str, drive_id: str, size: str | None = None) -> Pretrained:
    return Pretrained(f"stylegan-{short}", "stylegan-tf", res, dataset,
                      f"karras2019stylegan-{short}-{size or f'{res}x{res}'}.pkl", (_DRIVE + drive_id,), CC_BY_NC,
                      aliases=(short,))


def _sg2(dataset: str, res: int, short: str) -> Pretrained:
    filename = f"stylegan2-{short}-config-f.pkl"
    return Pretrained(f"stylegan2-{short}", "stylegan2-tf", res, dataset, filename,
                      tuple(base + filename for base in _SG2), NSCL_NC, aliases=(short,) if short != "ffhq" else ())


def _ada(name: str, dataset: str, res: int, filename: str, aliases: tuple[str, ...] = ()) -> Pretrained:
    return Pretrained(name, "stylegan2-ada-pytorch", res, dataset, filename.rsplit("/", 1)[-1], (_ADA + filename,),
                      NSCL, aliases=aliases)


_TL = "transfer-learning-source-nets/"
_SG3 = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/"


def _sg3(cfg: str, short: str, dataset: str, res: int) -> Pretrained:
    """stylegan3's README files: stylegan3-{t,r}-{dataset}-{res}x{res}.pkl on NVIDIA's NGC catalog."""
    stem = f"stylegan3-{cfg}-{short}-{res}x{res}"
    name = f"stylegan3-{cfg}-{short}" + ("-256" if short == "ffhqu" and res == 256 else "")
    return Pretrained(name, "stylegan3", res, dataset, f"{stem}.pkl", (f"{_SG3}{stem}.pkl",), NSCL, aliases=(stem,))

PRETRAINED: tuple[Pretrained, ...] = (
    # StyleGAN (v1), Karras et al. 2019: the Google Drive "networks" folder of github.com/NVlabs/stylegan.
    _v1("FFHQ", 1024, "ffhq", "1MEGjdvVpUsu1jB4zrXZN7Y4kBBOzizDQ"),
    _v1("CelebA-HQ", 1024, "celebahq", "1MGqJl28pN4t7SAtSrPdSRJSQJqahkzUf"),
    _v1("LSUN Bedroom", 256, "bedrooms", "1MOSKeGF0FJcivpBI7s63V9YHloUTORiF"),
    _v1("LSUN Car (512x384)", 512, "cars", "1MJ6iCfNtMIRicihwRorsM3b7mmtmK9c3", size="512x384"),
    _v1("LSUN Cat", 256, "cats", "1MQywl0FNt6lHu8E_EUqnRbviagS7fbiJ"),
    # StyleGAN2 config F, Karras et al. 2020 (stylegan2's pretrained_networks.py: the CDN, then its CloudFront).
    _sg2("FFHQ", 1024, "ffhq"),
    _sg2("LSUN Car (512x384)", 512, "car"),
    _sg2("LSUN Cat", 256, "cat"),
    _sg2("LSUN Church", 256, "church"),
    _sg2("LSUN Horse", 256, "horse"),
    # stylegan2-ada-pytorch, Karras et al. 2020 (its README's data repository).
    _ada("ada-ffhq", "FFHQ", 1024, "ffhq.pkl"),
    _ada("ada-metfaces", "MetFaces", 1024, "metfaces.pkl", ("metfaces",)),
    _ada("ada-afhqcat", "AFHQ Cat", 512, "afhqcat.pkl", ("afhqcat",)),
    _ada("ada-afhqdog", "AFHQ Dog", 512, "afhqdog.pkl", ("afhqdog",)),
    _ada("ada-afhqwild", "AFHQ Wild", 512, "afhqwild.pkl", ("afhqwild",)),
    _ada("ada-brecahad", "BreCaHAD", 512, "brecahad.pkl", ("brecahad",)),
    _ada("ada-cifar10", "CIFAR-10 (conditional)", 32, "cifar10.pkl", ("cifar10",)),
    # Its transfer-learning sources (train.py --resume names ffhq256, ...).
    _ada("ada-ffhq256", "FFHQ", 256, _TL + "ffhq-res256-mirror-paper256-noaug.pkl", ("ffhq256",)),
    _ada("ada-ffhq512", "FFHQ", 512, _TL + "ffhq-res512-mirror-stylegan2-noaug.pkl", ("ffhq512",)),
    _ada("ada-ffhq1024", "FFHQ", 1024, _TL + "ffhq-res1024-mirror-stylegan2-noaug.pkl", ("ffhq1024",)),
    _ada("ada-celebahq256", "CelebA-HQ", 256, _TL + "celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl",
         ("celebahq256",)),
    _ada("ada-lsundog256", "LSUN Dog", 256, _TL + "lsundog-res256-paper256-kimg100000-noaug.pkl", ("lsundog256",)),
    # StyleGAN3 (Alias-Free GAN), Karras et al. 2021: the 12 files of stylegan3's README (NGC catalog).
    *(_sg3(cfg, short, dataset, res) for cfg in ("t", "r") for short, dataset, res in (
        ("ffhq", "FFHQ", 1024), ("ffhqu", "FFHQ-U (unaligned)", 1024), ("ffhqu", "FFHQ-U (unaligned)", 256),
        ("metfaces", "MetFaces", 1024), ("metfacesu", "MetFaces-U (unaligned)", 1024),
        ("afhqv2", "AFHQv2", 512))),
)

_BY_NAME = {key: entry for entry in PRETRAINED for key in (entry.name, *entry.aliases)}


def lookup(name: str) -> Pretrained | None:
    return _BY_NAME.get(name.strip().lower())


def names() -> list[str]:
    return sorted(_BY_NAME)


def download_pretrained(name: str, *, offline: bool | None = None, progress: bool = True,
                        force: bool = False) -> Path:
    """The cached file of registry network `name` (downloaded, validated and recorded first if needed)."""
    entry = lookup(name)
    if entry is None:
        raise NetworkFormatError(f"{name!r} is not the name of a pretrained network{_suggest(name)}; "
                                 "`facegan pretrained list` shows them")
    return fetch(entry.remote, lambda p: _expect_family(p, entry), offline=offline, progress=progress, force=force)


def _expect_family(path: Path, entry: Pretrained) -> None:
    family = validate_network_file(path)
    if family != entry.family:
        raise NetworkFormatError(f"{entry.filename} should be a {entry.family} file, this is a {family} file")


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name.strip().lower(), names(), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def validate_network_file(path: str | os.PathLike) -> str:
    """The file's format (a key of facegan.interop.load.FORMATS) once it read as a network file.

    Official pickles are read whole through the restricted unpickler (so an HTML page, a truncated
    file or a pickle that asks for anything outside its format's allow-list is refused) and must be
    a (G, D, Gs) tuple or a stylegan2-ada-pytorch snapshot; our .safetensors must carry our metadata.
    """
    from facegan.interop.load import detect_tf_family
    from facegan.interop.stylegan2_pytorch import is_snapshot, snapshot_family
    from facegan.interop.tf_network import is_tf_network_tuple
    from facegan.interop.unpickler import read_pickle
    from facegan.networks.io import read_metadata

    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9 and head[8:9] == b"{":  # safetensors: u64 header size, then JSON
        read_metadata(path)
        return "facegan"
    contents = read_pickle(path)
    data = contents.obj
    if is_tf_network_tuple(data):
        contents.require("tensorflow")
        return detect_tf_family(*data, path)
    if is_snapshot(data):
        contents.require("pytorch")
        return snapshot_family(data)
    raise NetworkFormatError(f"{path.name}: a pickle, but not an official StyleGAN network file")


_HF = re.compile(r"^hf://(?P<owner>[^/@\s]+)/(?P<repo>[^/@\s]+)(?:@(?P<rev>[^/\s]+))?/(?P<file>\S+)$")


def resolve_network(spec: str | os.PathLike, *, offline: bool | None = None, progress: bool = True,
                    dir_okay: bool = False) -> Path:
    """A local file for a network argument: an existing path, an http(s) URL (downloaded into the
    cache), `hf://owner/repo[@revision]/path/file` (through huggingface_hub), or a registry name.

    Path objects are always paths. `dir_okay` accepts an existing folder (a run directory).
    """
    if isinstance(spec, os.PathLike):
        path = Path(spec)
        if path.is_file() or (dir_okay and path.is_dir()):
            return path
        raise NetworkFormatError(f"{path}: no such file")
    text = str(spec).strip()
    path = Path(text).expanduser()
    if path.is_file() or (dir_okay and path.is_dir()):
        return path
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        return fetch(url_remote(text), validate_network_file, offline=offline, progress=progress)
    if lowered.startswith("hf://"):
        return _from_hub(text, offline=offline)
    if lookup(text) is not None:
        return download_pretrained(text, offline=offline, progress=progress)
    if path.is_dir():
        raise NetworkFormatError(f"{path}: a folder, not a network file")
    what = "no such file or folder" if dir_okay else "no such file"
    if "/" in text or "\\" in text or path.suffix:
        raise NetworkFormatError(f"{text}: {what}")
    raise NetworkFormatError(f"{text}: {what}, and not the name of a pretrained network{_suggest(text)} "
                             "(`facegan pretrained list` shows them; URLs and hf://owner/repo/file work too)")


def _from_hub(spec: str, *, offline: bool | None) -> Path:
    """hf://owner/repo[@revision]/file through huggingface_hub (its own cache, $HF_HOME), then checked
    through the restricted unpickler like any download; a file that fails is removed from that cache."""
    m = _HF.match(spec)
    if not m:
        raise NetworkFormatError(f"{spec}: expected hf://owner/repo/file (optionally hf://owner/repo@revision/file)")
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise NetworkFormatError(f"{spec}: hf:// needs huggingface_hub (pip install 'facegan[hub]')") from None
    offline = is_offline() if offline is None else offline
    repo_id = f"{m['owner']}/{m['repo']}"
    try:
        local = Path(hf_hub_download(repo_id, m["file"], revision=m["rev"], local_files_only=offline,
                                     endpoint=os.environ.get("HF_ENDPOINT") or None))
    except LocalEntryNotFoundError:
        why = ("is not in the Hugging Face cache and facegan is offline" if offline else
               "did not come from the Hugging Face Hub (no such file, or the Hub cannot be reached)")
        raise NetworkFormatError(f"{spec} {why}: download https://huggingface.co/{repo_id}/resolve/"
                                 f"{m['rev'] or 'main'}/{m['file']} by hand and pass its path") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NetworkFormatError(f"{spec}: could not download it from the Hugging Face Hub ({reason})") from None
    try:
        validate_network_file(local)
    except NetworkFormatError:
        for path in {local.resolve(), local}:  # the blob and the snapshot's link to it: not kept
            path.unlink(missing_ok=True)
        raise
    return local
