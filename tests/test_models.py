"""Every architecture at every resolution it takes: shapes, parameter counts, errors."""

import math

import pytest
import torch
from torch.nn.utils import parametrize

from gan_runner.errors import UserError
from gan_runner.models import dcgan, goodfellow_mlp, mlp, resnet
from gan_runner.models.layers import Maxout

NET = {
    "d_batchnorm": True,
    "output": "tanh",
    "init": "normal",
    "init_gain": 0.02,
    "spectral_norm": False,
}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def shapes_ok(g, d, z_dim, shape, n=3):
    x = g(torch.randn(n, z_dim))
    assert x.shape == (n, *shape)
    assert d(x).shape == (n,)
    return x


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("resolution", [28, 32, 64])
def test_dcgan_every_resolution(resolution, channels):
    g, d = dcgan.build((channels, resolution, resolution), z_dim=100, width=16, **NET)
    x = shapes_ok(g, d, 100, (channels, resolution, resolution))
    assert x.abs().max() <= 1  # tanh


def test_dcgan_parameter_counts_are_the_pytorch_examples():
    # examples/dcgan (nz=100, ngf=ndf=64, nc=3, 64 px): netG 3,576,704 and netD 2,765,568 parameters
    g, d = dcgan.build((3, 64, 64), z_dim=100, width=64, **NET)
    assert (count(g), count(d)) == (3_576_704, 2_765_568)


def test_dcgan_without_bn_and_with_spectral_norm():
    g, d = dcgan.build(
        (1, 32, 32), z_dim=8, width=8, **{**NET, "d_batchnorm": False, "spectral_norm": True}
    )
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    shapes_ok(g, d, 8, (1, 32, 32))


def test_dcgan_rejects_other_resolutions():
    with pytest.raises(UserError, match="dataset.resolution"):
        dcgan.build((3, 48, 48), z_dim=8, width=8, **NET)


def test_dcgan_normal_init():
    g, d = dcgan.build((3, 64, 64), z_dim=100, width=64, **NET)
    w = g.net[0].weight
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    bn = g.net[1]
    assert abs(bn.weight.mean().item() - 1) < 0.01 and bn.bias.abs().max() == 0


def test_goodfellow_mlp():
    g, d = goodfellow_mlp.build(
        (1, 28, 28),
        z_dim=100,
        g_hidden=[1200, 1200],
        d_units=240,
        d_pieces=5,
        d_layers=2,
        d_input_dropout=0.2,
        d_dropout=0.5,
        output="sigmoid",
        init="default",
        init_gain=1.0,
        spectral_norm=False,
    )
    x = shapes_ok(g, d, 100, (1, 28, 28))
    assert 0 <= x.min() and x.max() <= 1  # sigmoid
    # G: 100·1200+1200 + 1200·1200+1200 + 1200·784+784; D: 784·1200+1200 + 240·1200+1200 + 240+1
    assert (count(g), count(d)) == (2_503_984, 1_231_441)
    assert sum(isinstance(m, Maxout) for m in d.modules()) == 2
    drops = [m.p for m in d.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops == [0.2, 0.5, 0.5]  # keep 0.8 on the input, 0.5 after each maxout layer
    d.eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(d(x), d(x))  # dropout only in training


def test_maxout_takes_the_max_piece():
    m = Maxout(2, units=1, pieces=3)
    with torch.no_grad():
        m.linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        m.linear.bias.zero_()
    assert m(torch.tensor([[2.0, -5.0]])).item() == 3.0  # max(2, -5, 3)


def test_sn_gan_resnet_default_init_is_sn_gans():
    g, d = resnet.build(
        (3, 32, 32),
        z_dim=128,
        g_channels=256,
        d_channels=128,
        output="tanh",
        init="default",
        init_gain=1.0,
        spectral_norm=False,
    )

    def xavier_std(
        w, gain
    ):  # Xavier-uniform: bound = gain √(6 / (fan_in + fan_out)), std = bound / √3
        fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
        return gain * math.sqrt(2 / (fan_in + fan_out))

    block = g.blocks[0]
    for w, gain in (
        (block.conv1.weight, math.sqrt(2)),
        (block.shortcut.weight, 1.0),
        (d.blocks[1].conv2.weight, math.sqrt(2)),
    ):
        assert abs(w.std().item() / xavier_std(w, gain) - 1) < 0.05


@pytest.mark.parametrize("channels", [1, 3])
def test_sn_gan_resnet(channels):
    g, d = resnet.build(
        (channels, 32, 32),
        z_dim=128,
        g_channels=256,
        d_channels=128,
        output="tanh",
        init="xavier_uniform",
        init_gain=1.0,
        spectral_norm=True,
    )
    shapes_ok(g, d, 128, (channels, 32, 32), n=2)

    # SN-GAN's CIFAR-10 ResNet (about 4.3M parameters in G and 1.1M in D), counted layer by layer
    # from the architecture models/resnet.py describes
    def conv(n_in, n_out, k):
        return n_in * n_out * k * k + n_out

    block_g = (
        2 * 256 + 2 * 256 + 2 * conv(256, 256, 3) + conv(256, 256, 1)
    )  # BN, BN, 3x3, 3x3, 1x1 shortcut
    g_count = 128 * 4 * 4 * 256 + 4 * 4 * 256 + 3 * block_g + 2 * 256 + conv(256, channels, 3)
    d_count = (
        conv(channels, 128, 3)
        + conv(128, 128, 3)
        + conv(channels, 128, 1)  # optimised block
        + 2 * conv(128, 128, 3)
        + conv(128, 128, 1)  # down-block
        + 2 * 2 * conv(128, 128, 3)  # two blocks without a shortcut conv
        + 128
        + 1
    )  # the linear logit
    assert (count(g), count(d)) == (g_count, d_count)
    assert all(
        parametrize.is_parametrized(m, "weight")
        for m in d.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    )
    with pytest.raises(UserError, match="32x32"):
        resnet.build(
            (3, 64, 64),
            z_dim=8,
            g_channels=8,
            d_channels=8,
            output="tanh",
            init="default",
            init_gain=1.0,
            spectral_norm=True,
        )


def test_mlp_on_images_and_points():
    net = {"hidden": [16], "activation": "relu"}
    Net = type("Net", (), net)
    for shape, output in (((2,), "none"), ((1, 28, 28), "tanh")):
        g, d = mlp.build(
            shape,
            z_dim=8,
            generator=Net,
            discriminator=Net,
            d_input_scale=1.0,
            output=output,
            init="orthogonal",
            init_gain=0.8,
            spectral_norm=True,
        )
        shapes_ok(g, d, 8, shape)
