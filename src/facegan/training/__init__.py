"""Training: the loop, losses, regularisers, progressive schedule, EMA, augmentation, distributed
set-up, checkpoints and resume, and the run directory's outputs."""
