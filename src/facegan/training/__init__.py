"""Training: the loop, losses, regularisers, progressive schedule, EMA, augmentation, distributed
set-up, checkpoints and resume, and the run directory's outputs.

    from facegan.training import resolve_options, train
    result = train(resolve_options("faces.zip", arch="stylegan2", cfg="paper256", kimg=5000))
"""

from facegan.training.loop import RunResult, train
from facegan.training.options import ProgressiveOptions, TrainingOptions
from facegan.training.presets import PRESETS, resolve_options

__all__ = ["PRESETS", "ProgressiveOptions", "RunResult", "TrainingOptions", "resolve_options", "train"]
