"""Tempered Adversarial Networks (Sajjadi et al. 2018): a lens L between the real data and D.

D sees L(x) for real data and G(z) for fake. The lens minimises λ·L_adv + w·L_rec, with
L_rec = E‖x − L(x)‖² (summed over a sample's values, or their mean: `rec_reduction`) and L_adv the negative of D's loss on the lensed real batch: the lens works
against D, pulling real data towards what D calls fake, so D's task starts easy and hardens as
λ(t) = 1 − sin(tπ / 2K) falls to 0 at t = K; from then on the lens is dropped (the identity) and
no longer trained. The lens trains once per generator iteration, on a fresh real batch, against D
as it stands; its own optimizer is `lens.optimizer`. For images, the run's sample pictures show
real images beside their lensed versions while the lens is on.
"""

import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..losses import Loss
from ..models.lens import ResidualLens
from . import Off


def tempering(step: int, K: int) -> float:
    """λ(t) = 1 − sin(tπ / 2K) for t ≤ K, 0 after."""
    return 1 - math.sin(step * math.pi / (2 * K)) if step <= K else 0.0


class NoLens(Off):
    """D sees the real data as it is."""

    def __init__(self, **unused):
        pass

    def view(self, x: Tensor, step: int) -> Tensor:
        return x

    def train_step(self, step: int, D: nn.Module, batch: Callable[[], Tensor]) -> dict[str, Tensor]:
        return {}

    def pictures(self, step: int, data) -> dict[str, dict[str, Tensor]]:
        """Images to show beside the samples: {tag: {caption: a batch of images}}, shown side by side."""
        return {}


class TemperedLens(NoLens):
    def __init__(
        self,
        K: int,
        rec_weight: float,
        hidden: int,
        depth: int,
        optimizer,
        data_shape: tuple[int, ...],
        loss: Loss,
        device: torch.device,
        rec_reduction: str = "sum",
    ):
        self.K, self.rec_weight, self.loss = K, rec_weight, loss
        # ‖x − L(x)‖² summed over a sample's values, or their mean (the paper does not say which)
        self.rec_scale = 1.0 if rec_reduction == "sum" else 1.0 / math.prod(data_shape)
        self.net = ResidualLens(tuple(data_shape), hidden, depth).to(device)
        self.opt = optimizer(self.net.parameters())

    def active(self, step: int) -> bool:
        return tempering(step, self.K) > 0

    def view(self, x: Tensor, step: int) -> Tensor:
        if not self.active(step):
            return x
        with torch.no_grad():
            return self.net(x)

    def train_step(self, step: int, D: nn.Module, batch: Callable[[], Tensor]) -> dict[str, Tensor]:
        if not self.active(step):
            return {}
        lam = tempering(step, self.K)
        x = batch()
        lensed = self.net(x)
        rec = (
            (x - lensed).pow(2).flatten(1).sum(1).mean()
        )  # logged summed, whatever the loss's reduction
        buffers = {
            name: b.clone() for name, b in D.named_buffers()
        }  # D's statistics are D's own business
        adv = -self.loss.d_real(functional_call(D, buffers, (lensed,)))
        self.opt.zero_grad(set_to_none=True)
        (lam * adv + self.rec_weight * self.rec_scale * rec).backward(
            inputs=list(self.net.parameters())
        )
        self.opt.step()
        return {
            "lens/lambda": torch.tensor(lam),
            "lens/rec": rec.detach(),
            "lens/adv": adv.detach(),
        }

    def pictures(self, step: int, data) -> dict[str, dict[str, Tensor]]:
        if not (
            self.active(step) and hasattr(data, "evenly")
        ):  # images held by index: real ones beside L(them)
            return {}
        x = data.scale(data.evenly(data.preview // 2))
        return {"lens": {"real": x, "lensed": self.view(x, step)}}

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
