"""The MNIST nets of Goodfellow et al. 2014 (their code, goodfeli/adversarial, mnist.yaml): G z -> 1200 ReLU -> 1200 ReLU -> pixels
(sigmoid); D maxout (240 units x 5 pieces) -> maxout (240 x 5) -> logit, with dropout on D's input
(keep 0.8) and on its hidden layers (keep 0.5). The architecture only: the paper's code also
started G's output bias from the pixel means and held D's weight columns to a maximum norm; with
`init: default` the weights start as PyTorch's."""

import math

from torch import Tensor, nn

from .layers import Maxout
from .mlp import Generator
from .weights import finish


class Discriminator(nn.Module):
    def __init__(
        self,
        in_shape: tuple[int, ...],
        units: int,
        pieces: int,
        layers: int,
        input_dropout: float,
        dropout: float,
    ):
        super().__init__()
        blocks: list[nn.Module] = [nn.Dropout(input_dropout)]
        n_in = math.prod(in_shape)
        for _ in range(layers):
            blocks += [Maxout(n_in, units, pieces), nn.Dropout(dropout)]
            n_in = units
        self.net = nn.Sequential(*blocks, nn.Linear(n_in, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def build(
    data_shape: tuple[int, ...],
    z_dim: int,
    g_hidden: list[int],
    d_units: int,
    d_pieces: int,
    d_layers: int,
    d_input_dropout: float,
    d_dropout: float,
    output: str,
    init: str,
    init_gain: float,
    spectral_norm: bool,
    d_init_gain: float | None = None,
) -> tuple[Generator, Discriminator]:
    g = Generator(z_dim, list(g_hidden), "relu", tuple(data_shape), output)
    d = Discriminator(tuple(data_shape), d_units, d_pieces, d_layers, d_input_dropout, d_dropout)
    return finish(g, d, init, init_gain, spectral_norm, d_init_gain)
