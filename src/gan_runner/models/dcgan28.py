"""The 28-px DCGAN of Lookahead-Minmax's MNIST experiments (Chavdarova et al. 2021, the authors'
notebooks mnist/LA-AltGAN+LA-ExtraGrad.ipynb and mnist/UnrolledGAN.ipynb: GeneratorCNN28 and
DiscriminatorCNN28), for 28×28 images of any channel count.

G: z -> ConvT 3×3 to a 3×3 map of 8w channels, BN, ReLU -> ConvT 4/2/1 to 6×6 (4w) -> ConvT 4/2/0
to 14×14 (2w) -> ConvT 4/2/1 to 28×28 -> output activation; BN and ReLU after each hidden layer.
D: conv 4/2/1 to 14×14 (w), LeakyReLU 0.2 -> conv to 7×7 (2w), BN -> conv to 3×3 (4w), BN -> conv
3×3 to one logit. No biases (BN follows, or the logit); `d_batchnorm=false` drops D's BN (and gives
its convs biases), as a WGAN-GP critic wants. w = 64 for both in the notebooks
(G 128 -> 512 -> 256 -> 128 -> 1); `d_width` apart from `g_width` sizes D against G (Metz et al.
2016's stacked MNIST uses D at ¼ and ½ of G).
"""

from torch import Tensor, nn

from ..errors import UserError
from .layers import OUTPUTS
from .weights import finish


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, width: int, output: str):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 8 * w, 3, 1, 0, bias=False),
            nn.BatchNorm2d(8 * w),
            nn.ReLU(True),
            nn.ConvTranspose2d(8 * w, 4 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(True),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 0, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, channels, 4, 2, 1, bias=False),
            OUTPUTS[output](),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self, channels: int, width: int, batchnorm: bool):
        super().__init__()
        w = width

        def norm(n: int) -> list[nn.Module]:  # a critic without it has biases instead (WGAN-GP's)
            return [nn.BatchNorm2d(n)] if batchnorm else []

        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1, bias=not batchnorm),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=not batchnorm),
            *norm(2 * w),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=not batchnorm),
            *norm(4 * w),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, 1, 3, 1, 0, bias=not batchnorm),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).view(-1)


def build(
    data_shape: tuple[int, ...],
    z_dim: int,
    g_width: int,
    d_width: int,
    d_batchnorm: bool,
    output: str,
    init: str,
    init_gain: float,
    spectral_norm: bool,
    d_init_gain: float | None = None,
) -> tuple[Generator, Discriminator]:
    channels, height, width_px = data_shape
    if (height, width_px) != (28, 28):
        raise UserError(
            f"model=dcgan28 takes 28×28 images, not {height}×{width_px}: use model=dcgan for 32 or "
            "64 px, or dataset.resolution=28."
        )
    return finish(
        Generator(z_dim, channels, g_width, output),
        Discriminator(channels, d_width, d_batchnorm),
        init,
        init_gain,
        spectral_norm,
        d_init_gain,
    )
