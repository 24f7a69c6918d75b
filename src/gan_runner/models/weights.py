"""How the networks' weights are initialised and parametrised, shared by every architecture."""

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

INITIALISERS = {
    "orthogonal": nn.init.orthogonal_,
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
}

WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def initialise(net: nn.Module, scheme: str, gain: float) -> None:
    """Re-initialise every linear/conv weight with `scheme` (biases to zero); 'default' keeps PyTorch's."""
    if scheme == "default":
        return
    for m in net.modules():
        if isinstance(m, WEIGHTED):
            INITIALISERS[scheme](m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def add_spectral_norm(net: nn.Module) -> None:
    """Miyato et al. 2018: divide every linear/conv weight by its largest singular value."""
    for m in list(net.modules()):
        if isinstance(m, WEIGHTED):
            spectral_norm(m)
