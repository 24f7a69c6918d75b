"""GAN objectives as pure functions of D's raw outputs (logits for the sigmoid losses).

A `Loss` splits D's loss into its real and fake halves, L_D = d_real(l_real) + d_fake(l_fake),
because the tempered lens (Sajjadi et al. 2018) works against the real half alone. Each
function returns the batch mean. softplus keeps the log-sigmoid terms finite for any logit:
-log σ(l) = softplus(-l) and -log(1 - σ(l)) = softplus(l).
"""

from functools import partial
from typing import Callable, NamedTuple

import torch.nn.functional as F
from torch import Tensor


class Loss(NamedTuple):
    d_real: Callable[[Tensor], Tensor]
    d_fake: Callable[[Tensor], Tensor]
    g: Callable[[Tensor], Tensor]


def bce_real(logits: Tensor) -> Tensor:
    """-E log D(x)."""
    return F.softplus(-logits).mean()


def bce_fake(logits: Tensor) -> Tensor:
    """-E log(1 - D(G(z)))."""
    return F.softplus(logits).mean()


def saturating_g(logits: Tensor) -> Tensor:
    """E log(1 - D(G(z))): the generator's side of the true minimax game."""
    return -F.softplus(logits).mean()


def squared_error(logits: Tensor, target: float) -> Tensor:
    return 0.5 * (logits - target).pow(2).mean()


def hinge_real(logits: Tensor) -> Tensor:
    return F.relu(1 - logits).mean()


def hinge_fake(logits: Tensor) -> Tensor:
    return F.relu(1 + logits).mean()


def negated_mean(logits: Tensor) -> Tensor:
    return -logits.mean()


def minimax() -> Loss:
    """Goodfellow et al. 2014: min_G max_D E log D(x) + E log(1 - D(G(z)))."""
    return Loss(bce_real, bce_fake, saturating_g)


def nonsaturating() -> Loss:
    """Goodfellow et al. 2014, §3: G maximises log D(G(z)) instead (strong early gradients)."""
    return Loss(bce_real, bce_fake, bce_real)


def lsgan(a: float, b: float, c: float) -> Loss:
    """Mao et al. 2016: least squares with fake label a, real label b, and G's target c."""
    return Loss(partial(squared_error, target=b), partial(squared_error, target=a),
                partial(squared_error, target=c))


def hinge() -> Loss:
    """Lim & Ye 2017 / Miyato et al. 2018."""
    return Loss(hinge_real, hinge_fake, negated_mean)


def d_loss(loss: Loss, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return loss.d_real(real_logits) + loss.d_fake(fake_logits)

