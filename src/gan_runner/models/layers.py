"""Building blocks shared by the architectures."""

from functools import partial

from torch import Tensor, nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": partial(nn.LeakyReLU, 0.2),
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}

# G's last activation, which must produce the data's value range (checked in config/rules.py)
OUTPUTS = {"none": nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class Maxout(nn.Module):
    """Goodfellow et al. 2013: the max over `pieces` linear units for each of `units` outputs."""

    def __init__(self, n_in: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(n_in, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(-1, self.units, self.pieces).amax(dim=2)
