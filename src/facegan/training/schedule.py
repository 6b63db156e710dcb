"""The progressive-growing schedule of StyleGAN (v1), with the official arithmetic
(training_schedule in the official training_loop.py).

With R the dataset's resolution and phases of (training_kimg + transition_kimg) kimg, at kimg k:

    phase = floor(k / phase_dur);   t = k - phase * phase_dur
    lod = log2(R) - log2(initial_resolution) - phase - max(t - training_kimg, 0) / transition_kimg
    lod = max(lod, 0);   resolution = R / 2^floor(lod)

so each phase first trains a resolution (lod an integer), then fades the next one in (lod falls to
the next integer). Minibatch and learning rate are looked up by resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from facegan.training.options import ProgressiveOptions


@dataclass(frozen=True)
class ScheduleState:
    kimg: float
    lod: float
    resolution: int          # Resolution being trained (the one fading in, during a fade).
    minibatch: int           # Global minibatch.
    lr: float
    tick_kimg: float


def progressive_schedule(cur_nimg: int, resolution: int, p: ProgressiveOptions, default_tick_kimg: float = 4
                         ) -> ScheduleState:
    kimg = cur_nimg / 1000.0
    res_log2 = int(math.log2(resolution))
    phase_dur = p.training_kimg + p.transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod = res_log2 - math.floor(math.log2(p.initial_resolution)) - phase_idx
    if p.transition_kimg > 0:
        lod -= max(phase_kimg - p.training_kimg, 0.0) / p.transition_kimg
    lod = max(lod, 0.0)
    cur_res = 2 ** (res_log2 - int(math.floor(lod)))
    return ScheduleState(kimg=kimg, lod=lod, resolution=cur_res,
                         minibatch=p.minibatch_dict.get(cur_res, p.minibatch_base),
                         lr=p.lr_dict.get(cur_res, p.lr_base),
                         tick_kimg=p.tick_kimg_dict.get(cur_res, default_tick_kimg))


def lod_changed(prev_lod: float | None, lod: float) -> bool:
    """The official optimizer-reset rule: floor or ceil of lod moved (start and end of a fade)."""
    return prev_lod is None or math.floor(prev_lod) != math.floor(lod) or math.ceil(prev_lod) != math.ceil(lod)
