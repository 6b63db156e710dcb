"""What users do with a trained or converted network: seeds, truncation, style mixing, sweeps,
interpolation, figures and videos."""

from facegan.generation.latents import seed_to_z, seeds_to_z

__all__ = ["seed_to_z", "seeds_to_z"]
