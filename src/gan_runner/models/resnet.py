"""The SN-GAN ResNet for 32x32 images (Miyato et al. 2018, CIFAR-10), as used by Lookahead-Minmax
(Chavdarova et al. 2021) on CIFAR-10 and SVHN.

G: z -> linear -> 4x4 x g_channels -> 3 up-blocks (8, 16, 32) -> BN, ReLU, 3x3 conv -> output.
D: optimised down-block -> down-block -> 2 blocks -> ReLU -> sum over space -> linear logit;
spectral norm on every D layer when `spectral_norm` (the default). With `init: default` the
weights start as in the SN-GAN code: Xavier-uniform with gain √2 in the residual 3x3 convs, gain 1
in shortcuts and the linear and output layers.
"""

import math

from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import UserError
from .layers import OUTPUTS
from .weights import finish


def xavier(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    nn.init.xavier_uniform_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def residual_conv(n_in: int, n_out: int) -> nn.Module:
    return xavier(nn.Conv2d(n_in, n_out, 3, 1, 1), math.sqrt(2))


class GBlock(nn.Module):
    """BN, ReLU, 2x nearest upsampling, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: upsample, 1x1 conv."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(n_in), nn.BatchNorm2d(n_out)
        self.conv1, self.conv2 = residual_conv(n_in, n_out), residual_conv(n_out, n_out)
        self.shortcut = xavier(nn.Conv2d(n_in, n_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    """[ReLU,] 3x3 conv, ReLU, 3x3 conv[, 2x2 average pool]; shortcut: 1x1 conv[, pool] when the
    shape changes. The first block (`first`) sees raw pixels: no ReLU before it, pool before its
    shortcut conv."""

    def __init__(self, n_in: int, n_out: int, down: bool, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = residual_conv(n_in, n_out), residual_conv(n_out, n_out)
        self.shortcut = xavier(nn.Conv2d(n_in, n_out, 1)) if down or n_in != n_out else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.shortcut is None:
            return h + x
        if self.first:
            return h + self.shortcut(F.avg_pool2d(x, 2))
        s = self.shortcut(x)
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, g_channels: int, output: str):
        super().__init__()
        self.ch = g_channels
        self.linear = xavier(nn.Linear(z_dim, 4 * 4 * g_channels))
        self.blocks = nn.Sequential(*(GBlock(g_channels, g_channels) for _ in range(3)))
        self.head = nn.Sequential(
            nn.BatchNorm2d(g_channels),
            nn.ReLU(),
            xavier(nn.Conv2d(g_channels, channels, 3, 1, 1)),
            OUTPUTS[output](),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.head(self.blocks(self.linear(z).view(-1, self.ch, 4, 4)))


class Discriminator(nn.Module):
    def __init__(self, channels: int, d_channels: int):
        super().__init__()
        self.blocks = nn.Sequential(
            DBlock(channels, d_channels, down=True, first=True),
            DBlock(d_channels, d_channels, down=True),
            DBlock(d_channels, d_channels, down=False),
            DBlock(d_channels, d_channels, down=False),
        )
        self.linear = xavier(nn.Linear(d_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(F.relu(self.blocks(x)).sum(dim=(2, 3))).squeeze(1)


def build(
    data_shape: tuple[int, ...],
    z_dim: int,
    g_channels: int,
    d_channels: int,
    output: str,
    init: str,
    init_gain: float,
    spectral_norm: bool,
    d_init_gain: float | None = None,
) -> tuple[Generator, Discriminator]:
    channels, height, width = data_shape
    if (height, width) != (32, 32):
        raise UserError(
            f"model=resnet is the 32x32 SN-GAN ResNet; the data is {height}x{width}: "
            "set dataset.resolution=32."
        )
    g, d = Generator(z_dim, channels, g_channels, output), Discriminator(channels, d_channels)
    return finish(g, d, init, init_gain, spectral_norm, d_init_gain)
