"""What users do with a trained or converted network: seeds, truncation, style mixing, sweeps,
noise figures, interpolation videos. One module per job; each is also a `facegan` command.

    import facegan
    from facegan.generation import generate_images, parse_truncation, save_images
    G = facegan.load("network.safetensors")
    save_images(generate_images(G, seeds=[0, 1, 2], trunc=parse_truncation("0.7")), "out/")
"""

from facegan.generation.figures import Figure
from facegan.generation.images import Generated, generate_images, load_ws, save_images, synthesize, write_images
from facegan.generation.interpolate import (
    animation_writer,
    interpolation_frames,
    interpolation_ws,
    slerp,
    write_animation,
    write_interpolation,
)
from facegan.generation.latents import seed_to_z, seeds_to_z
from facegan.generation.mixing import group_layers, mix_styles, style_layers
from facegan.generation.noise_figure import noise_components, noise_detail, noise_figure
from facegan.generation.style_mix import style_mixing
from facegan.generation.truncation import Truncation, parse_truncation
from facegan.generation.truncation_sweep import DEFAULT_PSIS, PAPER_PSIS, truncation_sweep

__all__ = [
    "DEFAULT_PSIS",
    "PAPER_PSIS",
    "Figure",
    "Generated",
    "Truncation",
    "animation_writer",
    "generate_images",
    "group_layers",
    "interpolation_frames",
    "interpolation_ws",
    "load_ws",
    "mix_styles",
    "noise_components",
    "noise_detail",
    "noise_figure",
    "parse_truncation",
    "save_images",
    "seed_to_z",
    "seeds_to_z",
    "slerp",
    "style_layers",
    "style_mixing",
    "synthesize",
    "truncation_sweep",
    "write_animation",
    "write_images",
    "write_interpolation",
]
