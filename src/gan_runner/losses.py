"""GAN objectives as pure functions of D's raw outputs (logits for the sigmoid losses).

A `Loss` splits D's loss into its real and fake halves, L_D = d_real(l_real) + d_fake(l_fake)
(+ a regulariser of D on both batches, e.g. WGAN-GP's gradient penalty), because the tempered lens
(Sajjadi et al. 2018) works against the real half alone. Each function returns the batch mean.
softplus keeps the log-sigmoid terms finite for any logit: -log σ(l) = softplus(-l) and
-log(1 - σ(l)) = softplus(l).
"""

from functools import partial
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

Critic = Callable[[Tensor], Tensor]  # D, or a functional copy of it (the unrolled D^k)


def no_penalty(D: Critic, real: Tensor, fake: Tensor) -> float:
    return 0.0


class Loss(NamedTuple):
    d_real: Callable[[Tensor], Tensor]
    d_fake: Callable[[Tensor], Tensor]
    g: Callable[[Tensor], Tensor]
    penalty: Callable[[Critic, Tensor, Tensor], Tensor | float] = (
        no_penalty  # D's regulariser on both batches
    )


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


def mean(logits: Tensor) -> Tensor:
    return logits.mean()


def minimax() -> Loss:
    """Goodfellow et al. 2014: min_G max_D E log D(x) + E log(1 - D(G(z)))."""
    return Loss(bce_real, bce_fake, saturating_g)


def nonsaturating() -> Loss:
    """Goodfellow et al. 2014, §3: G maximises log D(G(z)) instead (strong early gradients)."""
    return Loss(bce_real, bce_fake, bce_real)


def lsgan(a: float, b: float, c: float) -> Loss:
    """Mao et al. 2016: least squares with fake label a, real label b, and G's target c."""
    return Loss(
        partial(squared_error, target=b),
        partial(squared_error, target=a),
        partial(squared_error, target=c),
    )


def hinge() -> Loss:
    """Lim & Ye 2017 / Miyato et al. 2018."""
    return Loss(hinge_real, hinge_fake, negated_mean)


def gradient_penalty(D: Critic, real: Tensor, fake: Tensor, weight: float) -> Tensor:
    """Gulrajani et al. 2017: λ E (‖∇D(x̂)‖₂ − 1)², x̂ = εx + (1 − ε)x̃, ε ~ U[0, 1] per sample. The
    gradient is taken with create_graph, so the penalty is differentiable in D's parameters (and,
    through x̃, in G's when the fake batch carries G's graph: the unrolled D^K depends on G through it)."""
    eps = torch.rand(real.shape[0], *(1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x = eps * real + (1 - eps) * fake
    if not x.requires_grad:
        x.requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return weight * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def wgan_gp(weight: float) -> Loss:
    """Gulrajani et al. 2017, WGAN-GP: the critic minimises E D(G(z)) − E D(x) + λ·GP, G minimises
    −E D(G(z)); n_critic is trainer.d_steps."""
    return Loss(negated_mean, mean, negated_mean, partial(gradient_penalty, weight=weight))


def widened(logits: Tensor) -> Tensor:
    """D's outputs as a loss takes them: from a half-precision forward (trainer.precision) in fp32;
    fp32 and fp64 as they are."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def d_loss(loss: Loss, D: Critic, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """D's loss on a real and a fake batch (the loss's regulariser included), and D's outputs on each.
    Two forwards: batch norm sees real and fake batches apart (as in the DCGAN reference code); the
    losses in fp32 whatever precision D's forward ran in (trainer.precision)."""
    real_logits, fake_logits = widened(D(real)), widened(D(fake))
    return (
        loss.d_real(real_logits) + loss.d_fake(fake_logits) + loss.penalty(D, real, fake),
        real_logits,
        fake_logits,
    )
