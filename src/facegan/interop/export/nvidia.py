"""Our networks -> NVIDIA's TensorFlow-layout (G, D, Gs) pickle, checked whole before a byte is written."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from facegan.interop.export import ExportError, ExportReport
from facegan.interop.export import stylegan2_tf as sg2
from facegan.interop.export import stylegan_tf as sg1
from facegan.interop.export.tf_pickle import write_tf_pickle

LAYOUTS = {  # our architecture -> (exporter module, what the file is, who reads it)
    "stylegan2": (sg2, "StyleGAN2-ADA TensorFlow layout, version 4",
                  "stylegan2-ada-pytorch and stylegan3 (legacy.py) convert it on load"),
    "stylegan": (sg1, "StyleGAN TensorFlow layout (G_style), version 3",
                 "the layout of karras2019stylegan-ffhq-1024x1024.pkl"),
}


def _pick(nets: dict[str, nn.Module], arch: str) -> tuple[dict[str, nn.Module], list[str]]:
    """G, D and G_ema, with the fallbacks taken: one generator stands in for a missing other."""
    notes = []
    if "D" not in nets:
        raise ExportError(f"an NVIDIA pickle holds G, D and Gs, and these {arch} networks have no discriminator "
                          "(export a checkpoint or a converted file, which keep D)")
    if "G_ema" not in nets and "G" not in nets:
        raise ExportError("an NVIDIA pickle holds G, D and Gs, and these networks have no generator")
    for missing, other in (("G", "G_ema"), ("G_ema", "G")):
        if missing not in nets:
            nets = {**nets, missing: nets[other]}
            notes.append(f"there was no {missing}: {other} was written in its place")
    return nets, notes


def export_nvidia(config, nets: dict[str, nn.Module], path: Path) -> ExportReport:
    arch = getattr(config, "arch", type(config).__name__)
    if arch not in LAYOUTS:
        raise ExportError(f"NVIDIA has no network format for {arch} networks (their formats hold StyleGAN and "
                          "StyleGAN2); export it with --format onnx instead")
    module, layout, readers = LAYOUTS[arch]
    problems = module.unsupported(config)
    if problems:
        raise ExportError(f"this {arch} network cannot be written in the {layout}: {'; '.join(problems)}")
    nets, notes = _pick(nets, arch)
    for name in ("G", "D", "G_ema"):
        if getattr(nets[name], "config", config) != config:
            raise ExportError(f"{name} was built from a different config than the others")
    notes += [f"not recorded: {d}" for d in module.dropped(config)]
    notes.append("not recorded: training state (optimisers, progress, the ADA augment probability); the TF layout "
                 "keeps networks only, and NVIDIA's --resume restarts those")
    write_tf_pickle(path, *module.records(nets["G"], nets["D"], nets["G_ema"], config))
    return ExportReport(path, "nvidia", f"G, D and Gs in the {layout}; {readers}", tuple(notes))
