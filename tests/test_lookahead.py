"""Lookahead-Minmax and extragradient on bilinear games, played by the runner's own Game."""

import math

import pytest
import torch
from torch import nn

from gan_runner.game import Game
from gan_runner.stabilisers.extragradient import extragradient_step, plain_step
from gan_runner.stabilisers.lookahead import lookahead


class Vector(nn.Module):
    def __init__(self, v: torch.Tensor):
        super().__init__()
        self.v = nn.Parameter(v.clone())


class Bilinear:
    """min_x max_y f as a Game's objective, from a gradient oracle grads(x, y) -> (∇x f, ∇y f): the
    generator is x, the discriminator y (which descends −f); both from one draw in a joint step."""

    def __init__(self, X: Vector, Y: Vector, grads):
        self.X, self.Y, self.grads = X, Y, grads

    def joint_loss(self, step: int):
        gx, gy = self.grads(self.X.v.detach(), self.Y.v.detach())
        loss_g, loss_d = (gx * self.X.v).sum(), -(gy * self.Y.v).sum()  # their gradients: ∇x f and −∇y f
        return loss_d, loss_g, {"loss/D": loss_d, "loss/G": loss_g}

    def d_loss(self, step: int):
        loss_d, _, stats = self.joint_loss(step)
        return loss_d, stats

    def g_loss(self, step: int):
        _, loss_g, stats = self.joint_loss(step)
        return loss_g, stats

    def after_iteration(self, step: int) -> dict:
        return {}

    def state(self) -> dict:
        return {}

    def pictures(self, step: int) -> dict:
        return {}


def play(grads, x0, y0, lr, steps, k=0, alpha=0.5, extra=False):
    """Simultaneous GDA (or extragradient), with Lookahead-Minmax every k iterations when k > 0."""
    X, Y = Vector(x0), Vector(y0)
    game = Game(X, Y, torch.optim.SGD(X.parameters(), lr=lr), torch.optim.SGD(Y.parameters(), lr=lr),
                Bilinear(X, Y, grads), simultaneous=True, step_rule=extragradient_step if extra else plain_step,
                lookahead=lookahead([X, Y], k, alpha))
    for step in range(1, steps + 1):
        game.iteration(step)
    return X.v.detach(), Y.v.detach()


def test_bilinear_xy():
    """min_x max_y xᵀy, equilibrium (0, 0): GDA spirals out, LA-GDA and extragradient converge."""
    gen = torch.Generator().manual_seed(0)
    x0, y0 = torch.randn(10, generator=gen, dtype=torch.double), torch.randn(10, generator=gen, dtype=torch.double)
    start = x0.norm() + y0.norm()

    def grads(x, y):
        return y, x

    def distance(x, y):
        return (x.norm() + y.norm()).item()

    assert distance(*play(grads, x0, y0, 0.2, 1000)) > 100 * start  # |1 + iγ| > 1: grows every step
    assert distance(*play(grads, x0, y0, 0.2, 3000, k=15, alpha=0.3)) < start / 1000
    assert distance(*play(grads, x0, y0, 0.2, 3000, extra=True)) < start / 1000


def stochastic_bilinear(n: int = 100, seed: int = 0):
    """Chavdarova et al. 2021's benchmark: f = (1/n) Σ_i xᵀM_i y + a_iᵀx + b_iᵀy, M_i = e_i e_iᵀ,
    a_i, b_i ~ N(0, I/d), n = d = 100. Equilibrium: x* = -Σ b_i, y* = -Σ a_i."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=gen, dtype=torch.double) / math.sqrt(n)
    b = torch.randn(n, n, generator=gen, dtype=torch.double) / math.sqrt(n)
    sampler = torch.Generator().manual_seed(seed + 1)

    def grads(x, y, batch=None):
        i = torch.arange(n) if batch is None else torch.randint(n, (batch,), generator=sampler)
        count = torch.bincount(i, minlength=n).double() / len(i)  # each sampled M_i hits coordinate i
        return count * y + a[i].mean(0), count * x + b[i].mean(0)

    return grads, -b.sum(0), -a.sum(0)


@pytest.mark.parametrize("batch", [None, 16])
def test_stochastic_bilinear_benchmark(batch):
    grads, x_star, y_star = stochastic_bilinear()
    gen = torch.Generator().manual_seed(2)
    x0, y0 = torch.randn(100, generator=gen, dtype=torch.double), torch.randn(100, generator=gen, dtype=torch.double)
    start = ((x0 - x_star).norm() + (y0 - y_star).norm()).item()

    def distance(x, y):
        return ((x - x_star).norm() + (y - y_star).norm()).item()

    def game(x, y):
        return grads(x, y, batch)

    # the coupling is 1/n per coordinate: step sizes are the full-batch paper's (γ = 0.2) times n
    if batch is None:
        assert distance(*play(game, x0, y0, 20.0, 2000)) > 1e6 * start
        assert distance(*play(game, x0, y0, 20.0, 2000, k=15, alpha=0.3)) < start / 1000
        assert distance(*play(game, x0, y0, 20.0, 2000, extra=True)) < start / 1000
    else:
        # minibatches of 16: GDA blows up; LA-GDA's averaging holds it near the equilibrium's noise floor
        assert distance(*play(game, x0, y0, 5.0, 3000)) > 1e6 * start
        assert distance(*play(game, x0, y0, 5.0, 3000, k=15, alpha=0.3)) < start / 1.5  # 27.1 -> 17.2
