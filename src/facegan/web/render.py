"""Rendering faces from the loaded generator for the whole app: the fake pool's batches, and single
images for /random, /explore and the lesson.

Everything goes through the generator interface (`G.mapping`, `G.synthesis`, `G.num_ws`, ...), so
any architecture works. One lock serialises the generator: the pool renders a batch at a time, so
an interactive render waits for at most one batch. Networks whose synthesis takes `max_resolution`
(StyleGAN v1) render low-resolution previews by stopping early; the others render in full and are
downscaled.

StyleGAN3's translate and rotate (the explorer's, as `facegan generate --translate/--rotate`) live in
a buffer of the shared generator (`G.synthesis.input.transform`): a render that asks for them writes
it under the lock and puts the network's own transform back before the lock is released, so no other
request (another player's face, the game's fakes) ever sees it.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from facegan.errors import ConfigError
from facegan.generation.latents import seed_to_z
from facegan.generation.mixing import STYLE_GROUPS, group_layers, mix_styles
from facegan.networks.base import NOISE_MODES
from facegan.networks.stylegan3 import is_stylegan3, set_transform
from facegan.utils.device import warn_if_bf16_is_emulated
from facegan.utils.images import to_uint8
from facegan.web.imaging import encode_png, to_display

SEED_MAX = 2**32 - 1
# StyleGAN3's translate (in image widths, as gen_images.py's --translate) and rotate (degrees): one
# image width either way moves the centre to the border and beyond; +-180 degrees is every angle once.
TRANSLATE_MAX = 1.0
ROTATE_MAX = 180.0


@dataclass(frozen=True)
class NetworkInfo:
    name: str                         # The file's name.
    arch: str                         # stylegan, stylegan2, dcgan, ...
    resolution: int
    channels: int
    num_ws: int
    z_dim: int
    c_dim: int
    has_noise: bool                   # Per-pixel noise inputs (noise mode matters).
    groups: dict[str, list[int]]      # Style-mixing groups -> ws layers (empty: the group does not exist here).
    early_exit: bool                  # synthesis(ws, max_resolution=...) is supported.
    transform: bool = False           # StyleGAN3: the image can be translated and rotated.

    @property
    def mixing(self) -> bool:
        """Style mixing needs more than one style layer."""
        return self.num_ws > 1


def describe_network(G, name: str) -> NetworkInfo:
    arch = getattr(getattr(G, "config", None), "arch", "") or type(G).__name__
    named = [n for n, _ in G.synthesis.named_buffers()] + [n for n, _ in G.synthesis.named_parameters()]
    groups = {g: group_layers(g, G.num_ws) for g in STYLE_GROUPS} if G.num_ws > 1 else {g: [] for g in STYLE_GROUPS}
    try:
        early = "max_resolution" in inspect.signature(G.synthesis.forward).parameters
    except (TypeError, ValueError):
        early = False
    return NetworkInfo(name=name, arch=arch, resolution=int(G.img_resolution), channels=int(G.img_channels),
                       num_ws=int(G.num_ws), z_dim=int(G.z_dim), c_dim=int(G.c_dim),
                       has_noise=any("noise" in n for n in named), groups=groups, early_exit=early,
                       transform=is_stylegan3(G))


@dataclass(frozen=True)
class RenderParams:
    seed: int
    psi: float = 0.7
    cutoff: int | None = None         # Truncate only layers below it; None = the network's default.
    mix_seed: int | None = None       # Second seed whose styles replace those of `mix_group`.
    mix_group: str | None = None      # coarse, middle or fine.
    noise_mode: str = "const"
    class_idx: int | None = None      # Conditional networks only.
    preview: bool = False             # Low resolution (networks above the preview resolution).
    translate_x: float = 0.0          # StyleGAN3 only: translate the image (image widths) ...
    translate_y: float = 0.0
    rotate: float = 0.0               # ... and rotate it (degrees), as `facegan generate`.

    @property
    def transformed(self) -> bool:
        """Translated or rotated: the generator's transform is written for this render (0, 0, 0 leaves
        the network's own, as `facegan generate` without --translate/--rotate)."""
        return bool(self.translate_x or self.translate_y or self.rotate)


@dataclass(frozen=True)
class Rendered:
    png: bytes
    size: int          # Side in pixels.
    ms: float          # Time spent rendering (0 when it came from the cache).
    cached: bool


class Renderer:
    def __init__(self, G, name: str, precision: str = "fp32", preview_resolution: int = 256,
                 cache_bytes: int = 64 * 2**20):
        self.G = G.eval().requires_grad_(False)
        self.info = describe_network(G, name)
        self.device = next(G.parameters()).device
        self.precision = precision
        warn_if_bf16_is_emulated(precision, self.device)
        self.preview_resolution = preview_resolution
        self.lock = threading.Lock()
        self._cache: OrderedDict[RenderParams, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes
        self._cache_lock = threading.Lock()

    # -- validation -------------------------------------------------------------------------
    def check(self, p: RenderParams) -> None:
        """A ConfigError naming the problem when `p` does not fit this network."""
        info = self.info
        if not 0 <= p.seed <= SEED_MAX:
            raise ConfigError(f"seed must be in [0, {SEED_MAX}], got {p.seed}")
        if not np.isfinite(p.psi) or not -2.0 <= p.psi <= 2.0:
            raise ConfigError(f"psi must be in [-2, 2], got {p.psi}")
        if p.cutoff is not None and not 1 <= p.cutoff <= info.num_ws:
            raise ConfigError(f"cutoff must be in [1, {info.num_ws}] for this network, got {p.cutoff}")
        if p.noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {p.noise_mode!r}")
        if (p.mix_seed is None) != (p.mix_group is None):
            raise ConfigError("style mixing needs both a mix seed and a mix group (coarse, middle or fine)")
        if p.mix_seed is not None:
            if not info.mixing:
                raise ConfigError(f"this network ({info.arch}) has a single style layer: style mixing does not "
                                  "apply to it")
            if p.mix_group not in STYLE_GROUPS:
                raise ConfigError(f"mix group must be one of {', '.join(STYLE_GROUPS)}, got {p.mix_group!r}")
            if not info.groups[p.mix_group]:
                raise ConfigError(f"this {info.resolution}x{info.resolution} network has no {p.mix_group} layers")
            if not 0 <= p.mix_seed <= SEED_MAX:
                raise ConfigError(f"mix seed must be in [0, {SEED_MAX}], got {p.mix_seed}")
        if info.c_dim == 0 and p.class_idx is not None:
            raise ConfigError("this network is unconditional: it takes no class")
        if info.c_dim > 0 and p.class_idx is not None and not 0 <= p.class_idx < info.c_dim:
            raise ConfigError(f"class must be in [0, {info.c_dim - 1}], got {p.class_idx}")
        for name, value, bound in (("translate_x", p.translate_x, TRANSLATE_MAX),
                                   ("translate_y", p.translate_y, TRANSLATE_MAX), ("rotate", p.rotate, ROTATE_MAX)):
            if not np.isfinite(value) or not -bound <= value <= bound:
                raise ConfigError(f"{name} must be in [{-bound:g}, {bound:g}], got {value}")
        if p.transformed and not info.transform:
            raise ConfigError(f"translate and rotate apply to StyleGAN3 networks only (they move its Fourier-feature "
                              f"input); this network is {info.arch}")

    # -- rendering ----------------------------------------------------------------------------
    def _labels(self, classes: list[int | None]) -> torch.Tensor | None:
        if self.info.c_dim == 0:
            return None
        return self.G.make_labels(np.array([0 if c is None else c for c in classes]), len(classes), self.device)

    def _ws(self, seeds: list[int], psis: list[float], cutoff: int | None, classes: list[int | None]) -> torch.Tensor:
        """Mapped and truncated ws, one psi per sample (the network's default cutoff unless given)."""
        c = self._labels(classes)
        out = []
        for i, (seed, psi) in enumerate(zip(seeds, psis)):
            z = torch.from_numpy(seed_to_z(seed, self.G.z_dim)).float().to(self.device)
            out.append(self.G.mapping(z, None if c is None else c[i:i + 1], truncation_psi=float(psi),
                                      truncation_cutoff=cutoff))
        return torch.cat(out)

    def _synthesize(self, ws: torch.Tensor, noise_mode: str, max_resolution: int | None = None) -> np.ndarray:
        kwargs = {} if max_resolution is None else {"max_resolution": max_resolution}
        autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16) if self.precision == "bf16"
                    else contextlib.nullcontext())
        with autocast:
            img = self.G.synthesis(ws, noise_mode=noise_mode, **kwargs)
        return to_uint8(img.float())

    @contextlib.contextmanager
    def _transform(self, p: RenderParams):
        """The generator translated and rotated as `p` asks, for the duration (hold the lock)."""
        if not p.transformed:
            yield
            return
        buffer = self.G.synthesis.input.transform
        own = buffer.clone()
        try:
            set_transform(self.G, (p.translate_x, p.translate_y), p.rotate)
            yield
        finally:
            buffer.copy_(own)

    @torch.inference_mode()
    def fakes(self, seeds: list[int], psis: list[float], classes: list[int | None]) -> np.ndarray:
        """uint8 [N, R, R, C] fakes at full resolution, constant noise (reproducible from seed and psi)."""
        with self.lock:
            return self._synthesize(self._ws(seeds, psis, None, classes), "const")

    @torch.inference_mode()
    def render(self, p: RenderParams) -> np.ndarray:
        """One image, uint8 HWC: full resolution, or the preview resolution when asked and smaller."""
        self.check(p)
        info = self.info
        small = p.preview and info.resolution > self.preview_resolution
        with self.lock, self._transform(p):
            ws = self._ws([p.seed], [p.psi], p.cutoff, [p.class_idx])
            if p.mix_seed is not None:
                ws_mix = self._ws([p.mix_seed], [p.psi], p.cutoff, [p.class_idx])
                ws = mix_styles(ws, ws_mix, info.groups[p.mix_group])
            early = self.preview_resolution if small and info.early_exit else None
            image = self._synthesize(ws, p.noise_mode, early)[0]
        if small:
            image = to_display(image, self.preview_resolution, info.channels)
        return image

    def render_png(self, p: RenderParams) -> Rendered:
        """`render` encoded as PNG, through a small cache (not for random noise, which never repeats)."""
        cacheable = p.noise_mode != "random"
        if cacheable:
            with self._cache_lock:
                png = self._cache.get(p)
                if png is not None:
                    self._cache.move_to_end(p)
            if png is not None:
                return Rendered(png, _png_side(png), 0.0, True)
        t0 = time.perf_counter()
        image = self.render(p)
        png = encode_png(image, compress_level=1)
        ms = (time.perf_counter() - t0) * 1000
        if cacheable and len(png) <= self._cache_limit:
            with self._cache_lock:
                if p not in self._cache:
                    self._cache[p] = png
                    self._cache_bytes += len(png)
                while self._cache_bytes > self._cache_limit:
                    _, old = self._cache.popitem(last=False)
                    self._cache_bytes -= len(old)
        return Rendered(png, image.shape[0], ms, False)


def _png_side(png: bytes) -> int:
    return int.from_bytes(png[16:20], "big")  # IHDR width
