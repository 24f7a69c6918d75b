"""How the networks' weights are initialised and parametrised, shared by every architecture."""

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _normal(w, gain):  # DCGAN (Radford et al. 2016): N(0, 0.02), i.e. gain = 0.02
    return nn.init.normal_(w, 0.0, gain)


INITIALISERS = {
    "orthogonal": nn.init.orthogonal_,
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "normal": _normal,
}

WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def initialise(net: nn.Module, scheme: str, gain: float) -> None:
    """Re-initialise every linear/conv weight with `scheme` (biases to zero); 'default' keeps
    PyTorch's. With 'normal', batch-norm scales are drawn from N(1, gain) as in DCGAN."""
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


def finish(g: nn.Module, d: nn.Module, init: str, gain: float, spectral_norm: bool) -> tuple[nn.Module, nn.Module]:
    """What every architecture's build ends with: both players initialised, D spectrally normalised
    when asked."""
    for net in (g, d):
        initialise(net, init, gain)
    if spectral_norm:
        add_spectral_norm(d)
    return g, d
