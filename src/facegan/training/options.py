"""Training options: one frozen dataclass holding everything a run needs, written to options.json.

`resolve_options(data, arch, cfg, **overrides)` starts from a named preset with the official values
(the architecture registry's presets), fills what depends on the dataset (resolution, channels,
labels) and applies the user's overrides, checking each one against `APPLIES`, the one table of
which option applies to which architecture, loss and augmentation: an option given where it does
not apply is an error (`OptionNotApplicableError`), never silently ignored. The CLI asks the same
table through `check_options_apply` before any work starts.

`cfg` is always the preset's name (stylegan2-ada-pytorch's `--cfg`); the network's configuration
is `network` (a dict) or `network_config` (the typed config).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from facegan.errors import ConfigError
from facegan.networks.config import NetworkConfig, TrainingTraits, config_from_dict, trainable_architectures
from facegan.networks.config import training_traits as traits_of

AUGMENTS = ("noaug", "ada", "fixed")
OPTIMIZERS = ("adam", "rmsprop")       # rmsprop: Keras' (training/optim.py)
PRECISIONS = ("fp32", "mixed", "bf16")
REMOVED_OPTIONS = ("channels_last",)   # Read from old options.json files and ignored.


class OptionNotApplicableError(ConfigError):
    """An option was given that does not apply to the run's architecture, loss or augmentation."""

    def __init__(self, option: str, flag: str, applies_when: str, arch: str, loss: str, aug: str):
        self.option, self.flag = option, flag
        super().__init__(f"{flag} does not apply here: it applies {applies_when}, and this run is "
                         f"--arch {arch} with loss {loss} and --aug {aug}")


def _lazy(t: TrainingTraits, loss: str, aug: str, v: Any) -> bool:
    return t.lazy_regularisation


def _rmsprop(t: TrainingTraits, loss: str, aug: str, v: Any) -> bool:
    return "rmsprop" in t.optimizers


def _bce(t: TrainingTraits, loss: str, aug: str, v: Any) -> bool:
    return loss == "bce"


# The one table of which option applies where: option -> (its flag, when it applies, the test
# on (the architecture's training traits, loss, aug, the value given)).
APPLIES: dict[str, tuple[str, str, Callable[[TrainingTraits, str, str, Any], bool]]] = {
    "r1_gamma": ("--gamma", "to the logistic loss (R1)", lambda t, loss, aug, v: loss == "logistic"),
    "d_reg_interval": ("d_reg_interval", "to architectures with lazy regularisation", _lazy),
    "g_reg_interval": ("g_reg_interval", "to architectures with lazy regularisation", _lazy),
    "pl_weight": ("pl_weight", "to path-length regularisation (StyleGAN2 with the logistic loss)",
                  lambda t, loss, aug, v: t.path_length and loss == "logistic"),
    "pl_decay": ("pl_decay", "to path-length regularisation (StyleGAN2 with the logistic loss)",
                 lambda t, loss, aug, v: t.path_length and loss == "logistic"),
    "pl_batch_shrink": ("pl_batch_shrink", "to path-length regularisation (StyleGAN2 with the logistic loss)",
                        lambda t, loss, aug, v: t.path_length and loss == "logistic"),
    "wgan_lambda": ("wgan_lambda", "to the wgan-gp loss", lambda t, loss, aug, v: loss == "wgan-gp"),
    "wgan_epsilon": ("wgan_epsilon", "to the wgan-gp loss", lambda t, loss, aug, v: loss == "wgan-gp"),
    "wgan_target": ("wgan_target", "to the wgan-gp loss", lambda t, loss, aug, v: loss == "wgan-gp"),
    "style_mixing_prob": ("style_mixing_prob", "to architectures with style mixing",
                          lambda t, loss, aug, v: t.style_mixing),
    "cond": ("--cond", "to architectures that take labels", lambda t, loss, aug, v: t.conditional or not v),
    "aug": ("--aug", "to architectures that train with augmentation",
            lambda t, loss, aug, v: t.augmentable or v == "noaug"),
    "augpipe": ("--augpipe", "with --aug ada or fixed", lambda t, loss, aug, v: aug != "noaug"),
    "aug_p": ("--p", "with --aug ada or fixed", lambda t, loss, aug, v: aug != "noaug"),
    "ada_target": ("--target", "with --aug ada", lambda t, loss, aug, v: aug == "ada"),
    "ada_interval": ("ada_interval", "with --aug ada", lambda t, loss, aug, v: aug == "ada"),
    "ada_kimg": ("ada_kimg", "with --aug ada", lambda t, loss, aug, v: aug == "ada"),
    "progressive": ("progressive", "to architectures that grow progressively",
                    lambda t, loss, aug, v: t.progressive or v is None),
    "optimizer": ("optimizer", "to the optimisers the architecture trains with",
                  lambda t, loss, aug, v: v in t.optimizers),
    "rho": ("rho", "to architectures that train with RMSprop", _rmsprop),
    "clip_value": ("clip_value", "to architectures that train with RMSprop (Keras' clipvalue)", _rmsprop),
    "lr_decay": ("lr_decay", "to architectures that train with RMSprop (Keras' time-based decay)", _rmsprop),
    "label_flip": ("label_flip", "to the bce loss", _bce),
    "label_noise": ("label_noise", "to the bce loss", _bce),
}


def check_options_apply(given: Mapping[str, Any], arch: str, loss: str, aug: str) -> None:
    """Refuse, naming it, the first option in `given` (name -> value; None = not given) that does
    not apply to `arch` with `loss` and `aug`. Cheap: call it before any work starts."""
    traits = traits_of(arch)
    for name, value in given.items():
        if value is None or name not in APPLIES:
            continue
        flag, when, applies = APPLIES[name]
        if not applies(traits, loss, aug, value):
            raise OptionNotApplicableError(name, flag, when, arch, loss, aug)


@dataclass(frozen=True)
class ProgressiveOptions:
    """StyleGAN (v1) progressive growing, as the official training_schedule."""

    initial_resolution: int = 8                      # lod_initial_resolution
    training_kimg: float = 600                        # lod_training_kimg: stable phase per resolution
    transition_kimg: float = 600                      # lod_transition_kimg: fade-in per resolution
    minibatch_base: int = 32                          # Global minibatch where the dict says nothing.
    minibatch_dict: dict[int, int] = field(default_factory=dict)  # Resolution -> global minibatch.
    lr_base: float = 0.001                            # G_lrate_base = D_lrate_base
    lr_dict: dict[int, float] = field(default_factory=dict)  # Resolution -> learning rate.
    minibatch_repeats: int = 4                        # Schedule re-evaluated every N minibatches.
    reset_optimizer_on_lod_change: bool = True        # reset_opt_for_new_lod
    tick_kimg_dict: dict[int, float] = field(default_factory=lambda: {
        4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 30, 1024: 20})


@dataclass(frozen=True)
class TrainingOptions:
    # What and where.
    data: str                                # Dataset archive (zip or folder).
    outdir: str = "runs"                     # Parent folder of run directories.
    arch: str = "stylegan2"                  # A trainable architecture of the registry.
    cfg: str = "auto"                        # Preset name (the architecture's presets; not a network config).
    network: dict[str, Any] = field(default_factory=dict)  # The network config (NetworkConfig.to_dict()).
    # Data.
    resolution: int = 0                      # Training resolution (the archive's).
    mirror: bool = False                     # x-flips double the dataset.
    cond: bool = False                       # Condition on the dataset's labels.
    max_images: int | None = None            # Use a seeded random subset.
    workers: int = 2                         # DataLoader worker processes.
    # Length and cadence.
    kimg: float = 25000                      # Thousands of real images to show.
    batch: int = 32                          # Global batch size (all processes together).
    batch_gpu: int = 4                       # Samples per process per accumulation round.
    tick_kimg: float = 4                     # Progress line every N kimg (v1: per resolution).
    snap: int = 50                           # Snapshot (images, checkpoint, metrics) every N ticks.
    image_snap: int | None = None            # Control grid every N ticks (official image_snapshot_ticks), None = snap.
    grid_z_std: float = 1.0                  # Standard deviation of the control grid's latents (Keras tutorial: 0.5).
    keep_checkpoints: int = 3                # Keep the last N checkpoints.
    seed: int = 0                            # Global seed.
    # Optimisation.
    lr_g: float = 0.002
    lr_d: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    optimizer: str = "adam"                  # adam, or rmsprop (Keras': eps after the square root).
    rho: float = 0.9                         # RMSprop's decay of the squared-gradient average.
    clip_value: float | None = None          # RMSprop: clip each gradient element to +-N (Keras' clipvalue).
    lr_decay: float = 0.0                    # RMSprop: lr / (1 + lr_decay * updates) (Keras' decay).
    # Loss and regularisation.
    loss: str = "logistic"                   # logistic (+R1, +PL), wgan-gp or bce (the architecture's losses).
    r1_gamma: float = 10.0                   # R1 weight (logistic).
    d_reg_interval: int | None = 16          # Lazy R1 every N minibatches, None = every step (v1).
    pl_weight: float = 2.0                   # Path-length regularisation weight (StyleGAN2), 0 = off.
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    g_reg_interval: int | None = 4           # Lazy PL every N minibatches.
    wgan_lambda: float = 10.0                # WGAN-GP gradient penalty weight.
    wgan_epsilon: float = 0.001              # WGAN-GP drift term.
    wgan_target: float = 1.0
    style_mixing_prob: float = 0.9           # Style-mixing regularisation.
    label_flip: bool = False                 # bce: generated = 1, real = 0 (the Keras tutorial).
    label_noise: float = 0.0                 # bce: D's labels + label_noise * U(0, 1).
    blur_sigma: float = 0.0                  # D-input blur: Gaussian sigma in pixels at the start (stylegan3-r: 10).
    blur_fade_kimg: float = 0.0              # ... fading linearly to 0 over this many kimg; 0 = no blur.
    # EMA generator.
    ema_kimg: float = 10.0                   # Half-life of G_ema in thousands of images, 0 = G_ema is G.
    ema_rampup: float | None = None          # Ramp-up (fraction of images shown), None = off.
    # Augmentation.
    aug: str = "noaug"                       # noaug, ada or fixed.
    augpipe: str = "bgc"                     # Augmentation pipeline preset.
    aug_p: float = 0.0                       # Fixed probability (aug=fixed) or starting p (ada).
    ada_target: float = 0.6                  # ADA target for E[sign(D(real))].
    ada_interval: int = 4                    # Adjust p every N minibatches.
    ada_kimg: float = 500                    # p can move by 1 in this many kimg.
    # Progressive growing (StyleGAN v1).
    progressive: ProgressiveOptions | None = None
    # Numerics and devices.
    precision: str = "fp32"                  # fp32, mixed (official fp16 layers on CUDA) or bf16 (autocast).
    allow_tf32: bool = False                 # TF32 matmul/conv on Ampere+ GPUs.
    device: str = "auto"
    # Metrics at snapshots.
    metrics: tuple[str, ...] = ()
    # Resume / fine-tune.
    resume: str | None = None                # Run dir or checkpoint to continue, or a network to fine-tune.
    freezed: int = 0                         # Freeze-D: the first N discriminator layers stay fixed.
    # Robustness.
    max_nonfinite_steps: int = 10            # Stop after this many consecutive non-finite losses.
    description: str = ""                    # Extra run-dir name suffix.

    def __post_init__(self) -> None:
        if self.arch not in trainable_architectures():
            raise ConfigError(f"--arch must be one of {', '.join(trainable_architectures())}, got {self.arch!r}")
        losses = traits_of(self.arch).losses
        if self.loss not in losses:
            raise ConfigError(f"{self.arch} trains with the loss {' or '.join(losses)}, not {self.loss!r}")
        if self.aug not in AUGMENTS:
            raise ConfigError(f"--aug must be one of {AUGMENTS}, got {self.aug!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.batch < 1 or self.batch_gpu < 1 or self.batch % self.batch_gpu:
            raise ConfigError(f"--batch ({self.batch}) must be a positive multiple of --batch-gpu ({self.batch_gpu})")
        if self.kimg <= 0 or self.tick_kimg <= 0 or self.snap < 1:
            raise ConfigError("--kimg and --tick must be positive and --snap >= 1")
        if not 0 <= self.style_mixing_prob <= 1:
            raise ConfigError("style_mixing_prob must be in [0, 1]")
        if not 0 <= self.aug_p <= 1:
            raise ConfigError("--p must be in [0, 1]")
        if self.image_snap is not None and self.image_snap < 1:
            raise ConfigError(f"image_snap must be >= 1, got {self.image_snap}")
        if self.grid_z_std <= 0 or self.label_noise < 0 or self.lr_decay < 0:
            raise ConfigError("grid_z_std must be > 0, label_noise and lr_decay >= 0")
        if not (0 <= self.blur_sigma < 1000 and self.blur_fade_kimg >= 0):
            raise ConfigError(f"blur_sigma must be in [0, 1000) and blur_fade_kimg >= 0, got {self.blur_sigma} "
                              f"and {self.blur_fade_kimg}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        check_options_apply({"cond": self.cond, "aug": self.aug, "progressive": self.progressive,
                             "optimizer": self.optimizer},
                            self.arch, self.loss, self.aug)
        if self.keep_checkpoints < 1:
            raise ConfigError("keep_checkpoints must be >= 1")
        if self.freezed < 0:
            raise ConfigError(f"--freezed must be >= 0, got {self.freezed}")

    @property
    def network_config(self) -> NetworkConfig:
        return config_from_dict(self.network)

    @property
    def traits(self) -> TrainingTraits:
        return traits_of(self.arch)

    def replace(self, **changes: Any) -> TrainingOptions:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}")
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False)

    @staticmethod
    def from_json(text: str) -> TrainingOptions:
        d = json.loads(text)
        for name in REMOVED_OPTIONS:
            d.pop(name, None)
        prog = d.pop("progressive", None)
        if prog is not None:
            for key in ("minibatch_dict", "lr_dict", "tick_kimg_dict"):
                prog[key] = {int(k): v for k, v in prog[key].items()}
            d["progressive"] = ProgressiveOptions(**prog)
        d["betas"] = tuple(d["betas"])
        d["metrics"] = tuple(d.get("metrics", ()))
        return TrainingOptions(**d)
