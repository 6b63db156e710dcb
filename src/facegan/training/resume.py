"""Resuming: the one place that decides whether `--resume X` continues a run or fine-tunes a
network, from which file and from which kimg (`resume_plan`), for the CLI and the loop alike.

- A run directory, a `checkpoints/` folder, a `ckpt-*.state.pt` file or a `ckpt-*.safetensors`
  beside its `.state.pt`: **continue** that run exactly, with its own options.json (only the
  options in RESUMABLE_OVERRIDES may change, as they do not change what is computed).
- Anything else (our network file, an official pickle, a registry name): **fine-tune**, a new run
  whose G, D and G_ema start from that network's weights, at kimg 0.
"""

from __future__ import annotations

import filecmp
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facegan.errors import ConfigError
from facegan.training.checkpoint import CheckpointPaths, find_checkpoint
from facegan.training.options import TrainingOptions

# Options that may change when a run is continued (they do not change what is computed).
RESUMABLE_OVERRIDES = ("kimg", "snap", "tick_kimg", "workers", "metrics", "device", "keep_checkpoints")


@dataclass(frozen=True)
class ResumePlan:
    source: str                          # What was given to --resume.
    continues: bool                      # True: continue a run; False: fine-tune from a network.
    checkpoint: CheckpointPaths | None   # The checkpoint a continued run starts from.
    nimg: int                            # Images shown when training starts.

    @property
    def run_dir(self) -> Path | None:
        """The run a continued run belongs to (None when fine-tuning)."""
        return self.checkpoint.networks.parent.parent if self.checkpoint else None


def _is_checkpoint_file(path: Path) -> bool:
    if path.name.endswith(".state.pt"):
        return True
    return path.suffix == ".safetensors" and path.with_name(path.name.replace(".safetensors", ".state.pt")).exists()


def resume_plan(source: str | Path) -> ResumePlan:
    """Continue or fine-tune, from which file, at which images shown. A folder without a
    checkpoint is an error (CheckpointError), never silently a fine-tune."""
    path = Path(source)
    if path.is_dir() or _is_checkpoint_file(path):
        paths = find_checkpoint(path)
        return ResumePlan(str(source), True, paths, paths.nimg)
    return ResumePlan(str(source), False, None, 0)


def _same_dataset(a: str, b: str) -> bool:
    pa, pb = Path(a), Path(b)
    if pa.resolve() == pb.resolve():
        return True
    return pa.is_file() and pb.is_file() and filecmp.cmp(pa, pb, shallow=False)


def resume_options(source: str | Path, data: str | None = None, **overrides: Any) -> TrainingOptions:
    """The options of the run that `source` (a run directory or one of its checkpoints) belongs to,
    with only the harmless overrides above allowed: anything else would break exact resumption.
    `data` may name the run's dataset again (also at a new path, if its bytes are the same)."""
    plan = resume_plan(source)
    if not plan.continues:
        raise ConfigError(f"{source} is not a run directory or checkpoint, so it cannot be continued")
    options_file = plan.run_dir / "options.json"
    if not options_file.is_file():
        raise ConfigError(f"{options_file} is missing: cannot continue this run exactly")
    opts = TrainingOptions.from_json(options_file.read_text())
    overrides = {k: v for k, v in overrides.items() if v is not None}
    bad = sorted(set(overrides) - set(RESUMABLE_OVERRIDES))
    if bad:
        raise ConfigError(f"--resume continues a run with its own options; {', '.join(bad)} cannot change "
                          f"(only {', '.join(RESUMABLE_OVERRIDES)} can)")
    if data is not None:
        if not _same_dataset(data, opts.data):
            raise ConfigError(f"--data {data} is not the dataset of the run being continued ({opts.data}); "
                              "leave --data out to use the run's own")
        overrides["data"] = str(data)
    return opts.replace(resume=str(Path(source)), **overrides)
