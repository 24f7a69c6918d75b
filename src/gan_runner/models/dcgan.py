"""DCGAN (Radford et al. 2016) for square images of 28, 32 or 64 pixels, any channel count.

G: z -> transposed conv to a (start x start) map -> [transposed conv, BN, ReLU] doublings -> C
channels -> output activation. D mirrors it: strided convs with LeakyReLU(0.2) (BN after all but
the first when `d_batchnorm`), then one conv over the remaining map to a logit. Widths follow the
PyTorch example: the map at each resolution has width x 2^k channels. 28 px starts from 7x7
(two doublings), 32 and 64 from 4x4 (three, four).
"""

from torch import Tensor, nn

from ..errors import UserError
from .layers import OUTPUTS
from .weights import finish

LAYOUT = {28: (7, 2), 32: (4, 3), 64: (4, 4)}  # resolution -> (starting map size, doublings)


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, width: int, output: str):
        super().__init__()
        start, doublings = LAYOUT[resolution]
        ch = width * 2 ** (doublings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, ch, start, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(doublings - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), OUTPUTS[output]()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int, batchnorm: bool):
        super().__init__()
        start, doublings = LAYOUT[resolution]
        ch = width
        layers: list[nn.Module] = [
            nn.Conv2d(channels, ch, 4, 2, 1, bias=not batchnorm),
            nn.LeakyReLU(0.2, True),
        ]
        for _ in range(doublings - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not batchnorm),
                *([nn.BatchNorm2d(ch * 2)] if batchnorm else []),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, start, 1, 0, bias=not batchnorm))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).view(-1)


def build(
    data_shape: tuple[int, ...],
    z_dim: int,
    width: int,
    d_batchnorm: bool,
    output: str,
    init: str,
    init_gain: float,
    spectral_norm: bool,
    d_init_gain: float | None = None,
) -> tuple[Generator, Discriminator]:
    channels, height, width_px = data_shape
    if height != width_px or height not in LAYOUT:
        raise UserError(
            f"model=dcgan takes square images of {', '.join(map(str, LAYOUT))} pixels, not "
            f"{height}x{width_px}: set dataset.resolution to one of those."
        )
    g = Generator(z_dim, channels, height, width, output)
    d = Discriminator(channels, height, width, d_batchnorm)
    return finish(g, d, init, init_gain, spectral_norm, d_init_gain)
