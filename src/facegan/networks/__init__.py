"""The networks: StyleGAN (v1), StyleGAN2, StyleGAN3, DCGAN and the Keras face tutorial's DCGAN, each built
from a typed config.

    >>> from facegan.networks import DCGANConfig, build_generator
    >>> G = build_generator(DCGANConfig(resolution=64))
"""

from facegan.networks.base import NOISE_MODES, GeneratorBase, truncate, update_w_avg
from facegan.networks.config import (
    NetworkConfig,
    TrainingTraits,
    architectures,
    build_discriminator,
    build_generator,
    config_from_dict,
    get_architecture,
    register_architecture,
    trainable_architectures,
    training_traits,
)
from facegan.networks.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator
from facegan.networks.io import load_networks, load_state_strict, read_config, read_metadata, save_networks
from facegan.networks.keras_face import KerasFaceConfig, KerasFaceDiscriminator, KerasFaceGenerator
from facegan.networks.stylegan import (
    STYLEGAN_PRESETS,
    StyleGANConfig,
    StyleGANDiscriminator,
    StyleGANGenerator,
    stylegan_preset,
)
from facegan.networks.stylegan2 import StyleGAN2Config, StyleGAN2Discriminator, StyleGAN2Generator
from facegan.networks.stylegan2_presets import STYLEGAN2_SPECS, StyleGAN2Spec, stylegan2_preset, stylegan2_spec
from facegan.networks.stylegan3 import (
    StyleGAN3Config,
    StyleGAN3Generator,
    make_transform,
    set_transform,
    stylegan3_preset,
)
from facegan.networks.training_presets import (  # registers
    DCGAN_TRAINING,
    KERAS_FACE_TRAINING,
    STYLEGAN2_TRAINING,
    STYLEGAN3_TRAINING,
    STYLEGAN_TRAINING,
)

__all__ = [
    "NOISE_MODES",
    "STYLEGAN_PRESETS",
    "DCGANConfig",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GeneratorBase",
    "NetworkConfig",
    "STYLEGAN2_SPECS",
    "StyleGAN2Config",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "StyleGAN2Spec",
    "StyleGAN3Config",
    "StyleGAN3Generator",
    "make_transform",
    "set_transform",
    "stylegan3_preset",
    "stylegan2_preset",
    "stylegan2_spec",
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
    "save_networks",
    "StyleGANConfig",
    "StyleGANDiscriminator",
    "StyleGANGenerator",
    "stylegan_preset",
    "truncate",
    "update_w_avg",
    "TrainingTraits",
    "trainable_architectures",
    "training_traits",
    "DCGAN_TRAINING",
    "KERAS_FACE_TRAINING",
    "KerasFaceConfig",
    "KerasFaceDiscriminator",
    "KerasFaceGenerator",
    "STYLEGAN2_TRAINING",
    "STYLEGAN3_TRAINING",
    "STYLEGAN_TRAINING",
]
