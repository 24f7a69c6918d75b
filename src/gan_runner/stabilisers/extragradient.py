"""How a set of players steps from a gradient computation (`closure`: zeroes their gradients and
fills them at the current parameters, drawing its own fresh batch) and `step` (one optimizer's step
from them: precision.Precision.step, the optimizer's own or through a gradient scaler).

Extragradient (Korpelevich 1976; Gidel et al. 2019, Algorithm 2): extrapolate every player one
optimizer step with gradients at θ, take gradients at the extrapolated point on a fresh batch, then
step from θ with them. Both half-steps go through the base optimizer, whose state (Adam's moments,
SGD's momentum) advances in each, as in Gidel et al.'s ExtraAdam/ExtraSGD.
"""

from typing import Callable

import torch
from torch.optim import Optimizer

Step = Callable[[Optimizer], object]


def plain_step(optimizers: list[Optimizer], closure: Callable[[], object], step: Step) -> None:
    closure()
    for opt in optimizers:
        step(opt)


def extragradient_step(
    optimizers: list[Optimizer], closure: Callable[[], object], step: Step
) -> None:
    params = [p for opt in optimizers for group in opt.param_groups for p in group["params"]]
    start = [p.detach().clone() for p in params]
    plain_step(optimizers, closure, step)  # extrapolation: θ' = θ + step(∇ at θ)
    closure()  # gradients at θ'
    with torch.no_grad():
        for p, p0 in zip(params, start):
            p.copy_(p0)
    for opt in optimizers:
        step(opt)  # θ + step(∇ at θ')
