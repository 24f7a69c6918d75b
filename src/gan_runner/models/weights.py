"""How the networks' weights are initialised and parametrised, shared by every architecture."""

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def _normal(w, gain):  # DCGAN (Radford et al. 2016): N(0, 0.02), i.e. gain = 0.02
    return nn.init.normal_(w, 0.0, gain)


def _uniform(
    w, gain
):  # pylearn2's `irange`, as Goodfellow et al. 2014's MNIST nets: U(−gain, gain)
    return nn.init.uniform_(w, -gain, gain)


INITIALISERS = {
    "orthogonal": nn.init.orthogonal_,
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "normal": _normal,
    "goodfellow": _uniform,  # and G's output bias from the data (bias_from_marginals, game.players)
}

WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def initialise(net: nn.Module, scheme: str, gain: float) -> None:
    """Re-initialise every linear/conv weight with `scheme` (biases to zero); 'default' keeps
    PyTorch's; 'goodfellow' draws U(−gain, gain). With 'normal', batch-norm scales are drawn from N(1, gain) as in DCGAN."""
    if scheme == "default":
        return
    for m in net.modules():
        if isinstance(m, WEIGHTED):
            INITIALISERS[scheme](m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, NORMS) and scheme == "normal" and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def add_spectral_norm(net: nn.Module) -> None:
    """Miyato et al. 2018: divide every linear/conv weight by its largest singular value."""
    for m in list(net.modules()):
        if isinstance(m, WEIGHTED):
            spectral_norm(m)


def finish(
    g: nn.Module,
    d: nn.Module,
    init: str,
    gain: float,
    spectral_norm: bool,
    d_gain: float | None = None,
) -> tuple[nn.Module, nn.Module]:
    """What every architecture's build ends with: both players initialised (D with `d_gain` when
    given), D spectrally normalised when asked."""
    for net, net_gain in ((g, gain), (d, gain if d_gain is None else d_gain)):
        initialise(net, init, net_gain)
    if spectral_norm:
        add_spectral_norm(d)
    return g, d


@torch.no_grad()
def bias_from_marginals(g: nn.Module, pixel_mean: Tensor, output: str) -> None:
    """G's output bias at the inverse of its output activation of the data's mean pixels (in [0, 1]
    units), clipped to [1e-7, 1 − 1e-7]: pylearn2's init_sigmoid_bias_from_marginals (models/dbm), which
    Goodfellow et al. 2014's MNIST generator starts from; for tanh, atanh(2m − 1) = logit(m) / 2. Per
    pixel for a dense output layer, per channel (of its mean pixel) for a conv one."""
    last = [m for m in g.modules() if isinstance(m, WEIGHTED) and m.bias is not None]
    if not last:
        raise ValueError("G's last layer has no bias")
    bias = last[-1].bias
    if bias.numel() != pixel_mean.numel():  # a conv layer's bias: one per channel
        pixel_mean = pixel_mean.flatten(1).mean(1)
    if bias.numel() != pixel_mean.numel():
        raise ValueError(
            f"G's output bias has {bias.numel()} entries for data of shape {tuple(pixel_mean.shape)}"
        )
    m = pixel_mean.double().clamp(1e-7, 1 - 1e-7)
    bias.copy_((torch.log(m / (1 - m)) * (0.5 if output == "tanh" else 1.0)).flatten())
