"""Fully connected G and D: the toy mixtures' nets, usable on flattened images too."""

import math

from torch import Tensor, nn

from .layers import ACTIVATIONS, OUTPUTS
from .weights import finish


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers of the given sizes with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    def __init__(
        self,
        z_dim: int,
        hidden: list[int],
        activation: str,
        out_shape: tuple[int, ...],
        output: str,
    ):
        super().__init__()
        self.out_shape = out_shape
        self.net = nn.Sequential(
            *mlp([z_dim, *hidden, math.prod(out_shape)], activation), OUTPUTS[output]()
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.out_shape)


class Discriminator(nn.Module):
    def __init__(
        self, in_shape: tuple[int, ...], hidden: list[int], activation: str, input_scale: float
    ):
        super().__init__()
        self.input_scale = input_scale
        self.net = mlp([math.prod(in_shape), *hidden, 1], activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1) * self.input_scale).squeeze(1)


def build(
    data_shape: tuple[int, ...],
    z_dim: int,
    generator,
    discriminator,
    d_input_scale: float,
    output: str,
    init: str,
    init_gain: float,
    spectral_norm: bool,
    d_init_gain: float | None = None,
) -> tuple[Generator, Discriminator]:
    g = Generator(z_dim, list(generator.hidden), generator.activation, tuple(data_shape), output)
    d = Discriminator(
        tuple(data_shape), list(discriminator.hidden), discriminator.activation, d_input_scale
    )
    return finish(g, d, init, init_gain, spectral_norm, d_init_gain)
