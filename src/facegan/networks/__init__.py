"""The networks: StyleGAN (v1), StyleGAN2 and DCGAN, each built from a typed config.

    >>> from facegan.networks import DCGANConfig, build_generator, stylegan2_preset
    >>> G = build_generator(DCGANConfig(resolution=64))
    >>> G2 = build_generator(stylegan2_preset("stylegan2-config-f", resolution=1024))
"""

from facegan.networks.base import NOISE_MODES, GeneratorBase, truncate
from facegan.networks.config import (
    NetworkConfig,
    architectures,
    build_discriminator,
    build_generator,
    config_from_dict,
    get_architecture,
    register_architecture,
)
from facegan.networks.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator
from facegan.networks.io import load_networks, load_state_strict, read_config, read_metadata, save_networks
from facegan.networks.stylegan2 import Discriminator as StyleGAN2Discriminator
from facegan.networks.stylegan2 import Generator as StyleGAN2Generator
from facegan.networks.stylegan2 import StyleGAN2Config
from facegan.networks.stylegan2_presets import resolve_preset, stylegan2_preset

__all__ = [
    "NOISE_MODES",
    "DCGANConfig",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GeneratorBase",
    "NetworkConfig",
    "StyleGAN2Config",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "architectures",
    "build_discriminator",
    "build_generator",
    "config_from_dict",
    "get_architecture",
    "load_networks",
    "load_state_strict",
    "read_config",
    "read_metadata",
    "register_architecture",
    "resolve_preset",
    "save_networks",
    "stylegan2_preset",
    "truncate",
]
