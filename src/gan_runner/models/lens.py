"""The tempered lens's network (Sajjadi et al. 2018): L(x) = x + f(x), f's last layer
zero-initialised so that L starts as the identity. A residual MLP for vectors (the toy data), a
small residual conv net (3x3 convolutions, ReLU, same size) for images."""

from torch import Tensor, nn

from .mlp import mlp


class ResidualLens(nn.Module):
    def __init__(self, data_shape: tuple[int, ...], hidden: int, depth: int):
        super().__init__()
        if len(data_shape) == 1:
            self.f = mlp([data_shape[0], *[hidden] * depth, data_shape[0]], "relu")
        else:
            channels = data_shape[0]
            layers: list[nn.Module] = []
            for n_in in [channels] + [hidden] * (depth - 1):
                layers += [nn.Conv2d(n_in, hidden, 3, 1, 1), nn.ReLU()]
            self.f = nn.Sequential(*layers, nn.Conv2d(hidden, channels, 3, 1, 1))
        last = self.f[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.f(x)
