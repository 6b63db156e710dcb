"""Training: the loop, losses, regularisers, progressive schedule, EMA, augmentation, distributed
set-up, checkpoints and resume, and the run directory's outputs.

    from facegan.training import resolve_options, train
    result = train(resolve_options("faces.zip", arch="stylegan2", cfg="paper256", kimg=5000))
"""

from facegan.training.loop import RunResult, TrainingRun, train
from facegan.training.options import (
    APPLIES,
    OptionNotApplicableError,
    ProgressiveOptions,
    TrainingOptions,
    check_options_apply,
)
from facegan.training.presets import PRESETS, resolve_options
from facegan.training.resume import ResumePlan, resume_options, resume_plan

__all__ = ["APPLIES", "PRESETS", "OptionNotApplicableError", "ProgressiveOptions", "ResumePlan", "RunResult",
           "TrainingOptions", "TrainingRun", "check_options_apply", "resolve_options", "resume_options",
           "resume_plan", "train"]
