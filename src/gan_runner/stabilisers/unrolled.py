"""Unrolled GAN (Metz et al. 2016): the generator's loss is taken against D^K, where D^0 = D and
D^{k+1} is D's optimizer step from D^k, written functionally so that D^K is a differentiable
function of G's parameters. G's gradient then includes the second term ∂f/∂θD^K · dθD^K/dθG
(backpropagating through the K updates, with `create_graph=True`); `second_order=False` drops it.
A gradient penalty in D's loss (WGAN-GP) is differentiated through too: a third derivative, which
torch provides for D's usual layers but not batch norm (refused, with the way out).
D's own update stays its ordinary step; the unrolled copies are thrown away.

The functional steps reproduce torch.optim.Adam and torch.optim.SGD (L2 weight decay, momentum,
Nesterov), starting from the optimizer's current state. They work on all of D's parameters as one
flat vector: a dozen tensor operations per unrolled step instead of a dozen per parameter tensor.
"""

from functools import partial
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.optim import SGD, Adam, Optimizer

from .. import adam
from ..errors import UserError
from ..losses import Loss, d_loss, no_penalty


def _adam(p: Tensor, g: Tensor, state: dict, group: dict, k: int) -> tuple[Tensor, dict]:
    beta1, beta2 = group["betas"]
    if group["weight_decay"]:
        g = g + group["weight_decay"] * p
    m = beta1 * state["exp_avg"] + (1 - beta1) * g
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
    t = state["step"] + k + 1
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    # sqrt's derivative is infinite at 0, where D's gradient is exactly 0 (a dead ReLU): the clamp
    # keeps the second-order term finite and changes no update (m is 0 there too)
    denom = v.clamp_min(1e-30).sqrt() / bc2**0.5 + group["eps"]
    return p - (group["lr"] / bc1) * m / denom, {**state, "exp_avg": m, "exp_avg_sq": v}


def _sgd(p: Tensor, g: Tensor, state: dict, group: dict, k: int) -> tuple[Tensor, dict]:
    if group["weight_decay"]:
        g = g + group["weight_decay"] * p
    momentum = group["momentum"]
    if not momentum:
        return p - group["lr"] * g, state
    buf = state["momentum_buffer"]
    buf = g if buf is None else momentum * buf + (1 - group["dampening"]) * g
    step = g + momentum * buf if group["nesterov"] else buf
    return p - group["lr"] * step, {"momentum_buffer": buf}


def flat_state(opt: Optimizer, params: list[Tensor]) -> dict:
    """The optimizer's state for `params`, as flat vectors in their order."""
    states = [opt.state.get(p, {}) for p in params]

    def cat(key: str) -> Tensor | None:
        if all(key not in s for s in states):
            return None
        return torch.cat(
            [
                s[key].reshape(-1)
                if key in s
                else torch.zeros(p.numel(), device=p.device, dtype=p.dtype)
                for s, p in zip(states, params)
            ]
        )

    if isinstance(opt, Adam):
        zeros = torch.zeros(
            sum(p.numel() for p in params), device=params[0].device, dtype=params[0].dtype
        )
        steps = [float(s["step"]) for s in states if "step" in s]
        return {
            "exp_avg": cat("exp_avg") if steps else zeros,
            "exp_avg_sq": cat("exp_avg_sq") if steps else zeros,
            "step": max(steps, default=0.0),
        }
    return {"momentum_buffer": cat("momentum_buffer")}


def functional_step(
    opt: Optimizer, flat_params: Tensor, flat_grad: Tensor, state: dict, k: int
) -> tuple[Tensor, dict]:
    """opt's update of the flat parameter vector (the k-th unrolled one), out of place and differentiable."""
    rule = _adam if isinstance(opt, Adam) else _sgd
    return rule(flat_params, flat_grad, state, opt.param_groups[0], k)


class NoUnroll:
    """Off (K = 0): G's loss is taken against D itself."""

    def __init__(self, D: nn.Module):
        self.D = D

    def logits(
        self,
        fake: Callable[[], Tensor],
        G: nn.Module,
        real: Callable[[], Tensor],
        noise: Callable[[], Tensor],
        known: Tensor | None = None,
    ) -> Tensor:
        """The logits G's loss takes on the batch `fake()`; `known`: D's on it, when D's own step
        already computed them."""
        return self.D(fake()) if known is None else known


class Unroller(NoUnroll):
    """G's loss is taken against D^K."""

    def __init__(
        self,
        D: nn.Module,
        opt_d: Optimizer,
        loss: Loss,
        steps: int,
        second_order: bool,
        fresh_batches: bool,
    ):
        if type(opt_d) not in (adam.Adam, Adam, SGD) or len(opt_d.param_groups) != 1:
            raise UserError(
                "trainer.unroll_steps > 0 unrolls D's optimizer functionally: D must use "
                "optimizer=adam or optimizer=sgd (one parameter group)."
            )
        if any(
            opt_d.param_groups[0].get(flag)
            for flag in ("amsgrad", "maximize", "decoupled_weight_decay")
        ):
            raise UserError(
                "trainer.unroll_steps > 0: Adam's amsgrad/maximize/decoupled variants are not unrolled."
            )
        if (
            loss.penalty is not no_penalty
            and second_order
            and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
        ):
            raise UserError(
                "trainer.unroll_steps > 0 with a gradient penalty (loss=wgan_gp): G's gradient goes "
                "through the penalty of every unrolled D step, a third derivative, and torch's batch "
                "norm has none. Use a D without batch norm (model.d_batchnorm=false), "
                "trainer.unroll_second_order=false, or another loss."
            )
        super().__init__(D)
        self.opt_d, self.loss, self.steps = opt_d, loss, steps
        self.second_order, self.fresh_batches = second_order, fresh_batches

    def logits(
        self,
        fake: Callable[[], Tensor],
        G: nn.Module,
        real: Callable[[], Tensor],
        noise: Callable[[], Tensor],
        known: Tensor | None = None,
    ) -> Tensor:
        critic = self.critic(
            G, real, noise
        )  # unrolled first: its batches are drawn before G's noise
        return critic(fake())

    def critic(
        self, G: nn.Module, real: Callable[[], Tensor], noise: Callable[[], Tensor]
    ) -> Callable[[Tensor], Tensor]:
        """D^K, unrolled on real batches `real()` and fakes G(`noise()`): fresh ones for every
        unrolled step, or (fresh_batches=False) one pair for all K."""
        names, params = zip(*self.D.named_parameters())
        shapes = [p.shape for p in params]
        sizes = [p.numel() for p in params]
        flat = torch.cat([p.reshape(-1) for p in params])
        state = flat_state(self.opt_d, list(params))
        # the unrolled forwards must not move the players' own batch-norm / spectral-norm buffers
        buffers = {name: b.clone() for name, b in self.D.named_buffers()}
        g_buffers = {name: b.clone() for name, b in G.named_buffers()}

        def forward(flat_params: Tensor, x: Tensor) -> Tensor:
            views = {n: v.view(s) for n, v, s in zip(names, flat_params.split(sizes), shapes)}
            return functional_call(self.D, (views, buffers), (x,))

        for k in range(self.steps):
            if k == 0 or self.fresh_batches:
                x, z = real(), noise()
            with torch.set_grad_enabled(
                self.second_order
            ):  # first order: D^K does not depend on θG
                fake = functional_call(G, g_buffers, (z,))
            if not self.second_order:
                flat = flat.detach().requires_grad_()
            # D's loss as in its real step; a gradient penalty is differentiated through (third order)
            loss_d = d_loss(self.loss, partial(forward, flat), x, fake)[0]
            (grad,) = torch.autograd.grad(loss_d, flat, create_graph=self.second_order)
            flat, state = functional_step(self.opt_d, flat, grad, state, k)
        if not self.second_order:
            flat = flat.detach()
        return lambda x: forward(flat, x)


def unroller(
    D: nn.Module, opt_d: Optimizer, loss: Loss, steps: int, second_order: bool, fresh_batches: bool
) -> NoUnroll:
    """Unrolled GAN with K = `steps` (0: off)."""
    return Unroller(D, opt_d, loss, steps, second_order, fresh_batches) if steps else NoUnroll(D)
