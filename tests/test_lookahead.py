"""Lookahead-Minmax and extragradient on bilinear games, played by the runner's own Game."""

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
        loss_g, loss_d = (
            (gx * self.X.v).sum(),
            -(gy * self.Y.v).sum(),
        )  # their gradients: ∇x f and −∇y f
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
    game = Game(
        X,
        Y,
        torch.optim.SGD(X.parameters(), lr=lr),
        torch.optim.SGD(Y.parameters(), lr=lr),
        Bilinear(X, Y, grads),
        simultaneous=True,
        step_rule=extragradient_step if extra else plain_step,
        lookahead=lookahead([X, Y], k, alpha),
    )
    for step in range(1, steps + 1):
        game.iteration(step)
    return X.v.detach(), Y.v.detach()


@pytest.mark.slow
def test_bilinear_xy():
    """min_x max_y xᵀy, equilibrium (0, 0): GDA spirals out, LA-GDA and extragradient converge."""
    gen = torch.Generator().manual_seed(0)
    x0, y0 = (
        torch.randn(10, generator=gen, dtype=torch.double),
        torch.randn(10, generator=gen, dtype=torch.double),
    )
    start = x0.norm() + y0.norm()

    def grads(x, y):
        return y, x

    def distance(x, y):
        return (x.norm() + y.norm()).item()

    assert distance(*play(grads, x0, y0, 0.2, 1000)) > 100 * start  # |1 + iγ| > 1: grows every step
    assert distance(*play(grads, x0, y0, 0.2, 3000, k=15, alpha=0.3)) < start / 1000
    assert distance(*play(grads, x0, y0, 0.2, 3000, extra=True)) < start / 1000


def bilinear_game(*overrides: str):
    """The configured stochastic bilinear game (dataset=bilinear, model=bilinear), as gan-runner builds it."""
    from gan_runner.config.compose import compose
    from gan_runner.config.rules import validate
    from gan_runner.game import gan_game, players

    cfg = compose(["+experiment=lookahead_bilinear", *overrides, "trainer.device=cpu"])
    validate(cfg)
    torch.manual_seed(cfg.trainer.seed)
    data, G, D = players(cfg, torch.device("cpu"))
    return data, gan_game(cfg, data, G, D, torch.device("cpu"))


def test_the_problem_is_the_notebooks():
    """f's minibatch gradient is Σ over B distinct indices of (Mᵢy + aᵢ, Mᵢᵀx + bᵢ) with Mᵢ = eᵢeᵢᵀ
    (the notebook's minibatch_update), and (x*, y*) zeroes the full-batch gradient."""
    from gan_runner.bilinear import Problem

    p = Problem(6, seed=3, device="cpu")
    x, y = torch.randn(6, requires_grad=True), torch.randn(6, requires_grad=True)
    torch.manual_seed(0)
    p.f(x, y, 4).backward()
    torch.manual_seed(0)
    i = torch.randperm(6)[:4]
    M = torch.eye(6)[i].unsqueeze(2) * torch.eye(6)[i].unsqueeze(1)  # Mᵢ = eᵢeᵢᵀ
    assert len(set(i.tolist())) == 4
    assert torch.allclose(x.grad, (M @ y.detach()).sum(0) + p.a[i].sum(0), atol=1e-6)
    assert torch.allclose(
        y.grad, (M.transpose(1, 2) @ x.detach()).sum(0) + p.b[i].sum(0), atol=1e-6
    )
    xs, ys = p.x_star.requires_grad_(), p.y_star.requires_grad_()
    p.f(xs, ys, 6).backward()
    assert xs.grad.abs().max() < 1e-5 and ys.grad.abs().max() < 1e-5


def test_negative_momentum_adam_is_adams_formula():
    """β1 < 0 (Gidel et al. 2019), as the bilinear Adam baselines use it: m ← β1·m + (1 − β1)·g,
    v ← β2·v + (1 − β2)·g², step lr·m̂/(√v̂ + ε) with both bias corrections."""
    from gan_runner.adam import Adam

    p = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.double))
    opt = Adam([p], lr=0.1, betas=(-0.6, 0.999))
    x, m, v = (
        p.detach().clone(),
        torch.zeros(2, dtype=torch.double),
        torch.zeros(2, dtype=torch.double),
    )
    for t in range(1, 6):
        g = torch.tensor([t, -1.0 / t], dtype=torch.double)
        p.grad = g.clone()
        opt.step()
        m, v = -0.6 * m + 1.6 * g, 0.999 * v + 0.001 * g * g
        x = x - 0.1 * (m / (1 - (-0.6) ** t)) / ((v / (1 - 0.999**t)).sqrt() + 1e-8)
        assert torch.allclose(p.detach(), x)
    with pytest.raises(ValueError, match="must be in"):
        Adam([p], lr=0.1, betas=(-1.0, 0.999))


@pytest.mark.slow
@pytest.mark.parametrize("batch", [100, 16])
def test_stochastic_bilinear_benchmark(batch):
    """The preset's game, played by the runner: GDA moves away from the solution; Lookahead-Minmax
    over the same steps (the notebook's γ, k at this batch size) comes towards it; at full batch so
    does extragradient."""

    def distance(method: str, steps: int) -> tuple[float, float]:
        data, game = bilinear_game(f"+experiment/bilinear={method}", f"trainer.batch_size={batch}")
        start = data.distance(game.G.v.detach(), game.D.v.detach())
        for step in range(1, steps + 1):
            game.iteration(step)
        return start, data.distance(game.G.v.detach(), game.D.v.detach())

    steps = 300 if batch == 100 else 3000
    start, gda = distance("gda", steps)
    _, la = distance("la_gda", steps)
    assert gda > start and la < start / (1000 if batch == 100 else 2)
    if batch == 100:
        assert distance("extragradient", steps)[1] < start / 1000
