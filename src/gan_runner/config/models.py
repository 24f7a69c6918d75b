"""The model options' schemas: what every architecture takes (ModelConfig) and each one's own sizes; a
dataclass's `_target_` is the architecture's build(data_shape, ...) (gan_runner.models). Adding a
model: its YAML under conf/model/, its builder, its dataclass here and its MODELS entry."""

import math
from dataclasses import dataclass
from typing import List, Optional

from omegaconf import MISSING

from .fields import Activation, Init, Output, at_least, checked, fraction, positive


@dataclass
class MLPNetConfig:
    hidden: List[int] = checked(
        "must be a list of positive widths", lambda v: all(w > 0 for w in v)
    )
    activation: Activation = MISSING


@dataclass
class ModelConfig:
    """What every architecture takes; each option's `_target_` is its build(data_shape, ...)."""

    _target_: str = MISSING
    z_dim: int = at_least(1)
    noise: str = checked(
        "must be normal or uniform", lambda v: v in ("normal", "uniform"), "normal"
    )  # z's law
    output: Output = MISSING  # G's last activation: must produce the data's range
    init: Init = Init.default
    init_gain: float = positive(1.0)
    d_init_gain: Optional[float] = checked(
        "must be null (D as G) or a finite number > 0",
        lambda v: v is None or (math.isfinite(v) and v > 0),
        None,
    )
    spectral_norm: bool = False  # on every D weight


@dataclass
class MLPConfig(ModelConfig):
    _target_: str = "gan_runner.models.mlp.build"
    generator: MLPNetConfig = MISSING
    discriminator: MLPNetConfig = MISSING
    d_input_scale: float = positive(1.0)  # D sees x * scale (the Unrolled-GAN ring nets use 1/4)


@dataclass
class DCGANConfig(ModelConfig):
    _target_: str = "gan_runner.models.dcgan.build"
    width: int = at_least(
        1
    )  # channels of D's first and G's last hidden map; doubled at each halving
    d_batchnorm: bool = True


@dataclass
class DCGAN28Config(ModelConfig):
    _target_: str = "gan_runner.models.dcgan28.build"
    g_width: int = at_least(1)  # G's hidden maps: 8, 4, 2 × g_width channels
    d_width: int = at_least(1)  # D's: 1, 2, 4 × d_width channels
    d_batchnorm: bool = True


@dataclass
class StackedDCGANConfig(ModelConfig):
    _target_: str = "gan_runner.models.stacked_dcgan.build"
    g_width: int = at_least(1)  # G's maps: 8, 4, 2, 1 × g_width channels
    d_width: int = at_least(1)  # D's: 1, 2, 4 × d_width channels


@dataclass
class GoodfellowMLPConfig(ModelConfig):
    _target_: str = "gan_runner.models.goodfellow_mlp.build"
    g_hidden: List[int] = checked(
        "must be a list of positive widths", lambda v: all(w > 0 for w in v)
    )
    d_units: int = at_least(1)
    d_pieces: int = at_least(1)
    d_layers: int = at_least(1)
    d_input_dropout: float = fraction()
    d_dropout: float = fraction()


@dataclass
class ResNetConfig(ModelConfig):
    _target_: str = "gan_runner.models.resnet.build"
    g_channels: int = at_least(1)
    d_channels: int = at_least(1)


@dataclass
class BilinearPlayersConfig(ModelConfig):
    """The bilinear game's players x (G) and y (D), vectors drawn from N(0, I/d) by the run's seed."""

    _target_: str = "gan_runner.bilinear.players"
    z_dim: int = at_least(1, 1)  # unused: a point is its own sample
    output: Output = Output.none


MODELS = {
    "mlp": MLPConfig,
    "dcgan": DCGANConfig,
    "dcgan28": DCGAN28Config,
    "stacked_dcgan": StackedDCGANConfig,
    "goodfellow_mlp": GoodfellowMLPConfig,
    "resnet": ResNetConfig,
    "bilinear": BilinearPlayersConfig,
}
