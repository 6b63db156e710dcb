"""What users do with a trained or converted network: seeds, truncation, style mixing, sweeps,
interpolation, figures and videos."""

from facegan.generation.figures import noise_figure, style_mixing, truncation_sweep
from facegan.generation.images import Generated, generate_images, save_images
from facegan.generation.interpolate import interpolation_frames, slerp, write_animation
from facegan.generation.latents import seed_to_z, seeds_to_z
from facegan.generation.truncation import Truncation, parse_truncation

__all__ = [
    "Generated",
    "Truncation",
    "generate_images",
    "interpolation_frames",
    "noise_figure",
    "parse_truncation",
    "save_images",
    "seed_to_z",
    "seeds_to_z",
    "slerp",
    "style_mixing",
    "truncation_sweep",
    "write_animation",
]
