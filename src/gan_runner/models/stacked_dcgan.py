"""The small DCGAN of Metz et al. 2016's stacked-MNIST experiment (Table 2), as PacGAN (Lin et al.
2018) reimplements it to reproduce that table (fjxmlzn/PacGAN, stacked_MNIST_experiments/
unrolled_GAN_experiment/D=0.25G/model.py, generator and discriminator): the paper's appendix read
by its reproducers, for 28×28 images.

G: z -> linear to a 4×4 map of 8w channels, BN, ReLU -> ConvT 3×3/2 to 7×7 (4w) -> 14×14 (2w) ->
28×28 (w), BN and ReLU after each -> conv 3×3/1 to the image's channels -> output activation
(w = 8: 64/32/16/8 channels). D: conv 3×3/2 to 14×14 (d), BN, LeakyReLU 0.3 -> 7×7 (2d) -> 4×4
(4d) -> linear to one logit. D at ¼ of G's size is d = 2 (2/4/8 channels), at ½ d = 4.
"""

from torch import Tensor, nn

from ..errors import UserError
from .layers import OUTPUTS
from .weights import finish


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, width: int, output: str):
        super().__init__()
        w = width
        self.project = nn.Linear(z_dim, 8 * w * 4 * 4)
        self.net = nn.Sequential(
            nn.BatchNorm2d(8 * w),
            nn.ReLU(True),
            nn.ConvTranspose2d(8 * w, 4 * w, 3, 2, 1),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(True),  # 4 -> 7
            nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(True),  # 14
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1),
            nn.BatchNorm2d(w),
            nn.ReLU(True),  # 28
            nn.Conv2d(w, channels, 3, 1, 1),
            OUTPUTS[output](),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.project(z).view(len(z), -1, 4, 4))


class Discriminator(nn.Module):
    def __init__(self, channels: int, width: int):
        super().__init__()
        d = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, d, 3, 2, 1),
            nn.BatchNorm2d(d),
            nn.LeakyReLU(0.3, True),  # 28 -> 14
            nn.Conv2d(d, 2 * d, 3, 2, 1),
            nn.BatchNorm2d(2 * d),
            nn.LeakyReLU(0.3, True),  # 7
            nn.Conv2d(2 * d, 4 * d, 3, 2, 1),
            nn.BatchNorm2d(4 * d),
            nn.LeakyReLU(0.3, True),  # 4
            nn.Flatten(),
            nn.Linear(4 * d * 4 * 4, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).view(-1)


def build(
    data_shape: tuple[int, ...],
    z_dim: int,
    g_width: int,
    d_width: int,
    output: str,
    init: str,
    init_gain: float,
    spectral_norm: bool,
    d_init_gain: float | None = None,
) -> tuple[Generator, Discriminator]:
    channels, height, width_px = data_shape
    if (height, width_px) != (28, 28):
        raise UserError(
            f"model=stacked_dcgan takes 28×28 images, not {height}×{width_px}: use model=dcgan for 32 "
            "or 64 px, or dataset.resolution=28."
        )
    return finish(
        Generator(z_dim, channels, g_width, output),
        Discriminator(channels, d_width),
        init,
        init_gain,
        spectral_norm,
        d_init_gain,
    )
