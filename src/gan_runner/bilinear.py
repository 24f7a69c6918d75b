"""The stochastic bilinear game of Chavdarova et al. 2021 (§5.1; their notebook
bilinear_game/LA-MM_stochastic_bilinear.ipynb): min_x max_y f(x, y) = (1/n) Σᵢ (xᵀMᵢy + aᵢᵀx + bᵢᵀy)
with n = d, Mᵢ = eᵢeᵢᵀ and aᵢ, bᵢ ~ N(0, I/d). Its solution is x* = −Σᵢ bᵢ, y* = −Σᵢ aᵢ.

It is played by the runner's own `Game` (the order, plain or extragradient steps, Lookahead-Minmax,
the base optimizers), so a bilinear result is a result of that code: the "dataset" is the problem,
the "model" the two players (x as G, the minimiser; y as D, the maximiser), and the problem brings
its objective. As in the notebook, a minibatch's gradient is the SUM over B indices drawn without
replacement (the full batch sums all n), so a step size means what it means there.
"""

import numpy as np
import torch
from torch import Tensor, nn


class Point(nn.Module):
    """One player: a vector. As a generator it 'samples' itself whatever the noise."""

    def __init__(self, d: int):
        super().__init__()
        self.v = nn.Parameter(torch.randn(d) / d**0.5)  # x₀, y₀ ~ N(0, I/d), from the run's seed

    def forward(self, z: Tensor) -> Tensor:
        return self.v.expand(len(z), -1)


def players(
    data_shape: tuple[int, ...],
    z_dim: int,
    output: str,
    init: str,
    init_gain: float,
    spectral_norm: bool,
    d_init_gain: float | None = None,
) -> tuple[Point, Point]:
    (d,) = data_shape
    return Point(d), Point(d)


class Problem:
    """The game's data: aᵢ, bᵢ (drawn from `seed`, so every method of a seed plays the same game)."""

    preview = 1  # a player is one point

    def __init__(self, dim: int, seed: int, device: torch.device | str):
        gen = torch.Generator().manual_seed(seed)
        self.a, self.b = (
            torch.randn(dim, dim, generator=gen).div_(dim**0.5).to(device) for _ in range(2)
        )
        self.n = dim
        self.shape = (dim,)
        self.x_star, self.y_star = -self.b.sum(0), -self.a.sum(0)

    def objective(self, G: Point, D: Point, batch_size: int) -> "BilinearObjective":
        return BilinearObjective(self, G, D, batch_size)

    def f(self, x: Tensor, y: Tensor, batch_size: int) -> Tensor:
        """Σ over a minibatch of fᵢ(x, y) = xᵢyᵢ + aᵢᵀx + bᵢᵀy (xᵀMᵢy = xᵢyᵢ for Mᵢ = eᵢeᵢᵀ)."""
        i = torch.randperm(self.n, device=x.device)[:batch_size]
        return (x[i] * y[i]).sum() + self.a[i].sum(0) @ x + self.b[i].sum(0) @ y

    def distance(self, x: Tensor, y: Tensor) -> float:
        """‖x − x*‖ + ‖y − y*‖, the notebook's measure."""
        return ((x - self.x_star).norm() + (y - self.y_star).norm()).item()

    def show(self, samples: Tensor) -> np.ndarray:
        """x against x*, coordinate by coordinate: on the diagonal at the solution."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 5), dpi=100)
        ax = fig.add_subplot()
        star, x = self.x_star.cpu().numpy(), samples[0].detach().cpu().numpy()
        lim = 1.2 * max(abs(star).max(), 1e-3)
        ax.plot([-lim, lim], [-lim, lim], c="red", lw=1, label="x = x*")
        ax.scatter(star, x, s=8, label="coordinates of x")
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x*", ylabel="x")
        ax.legend(loc="upper left", fontsize="small")
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    def state_dict(self) -> dict:
        return {}  # drawn from its seed; minibatches from the run's RNG

    def load_state_dict(self, state: dict) -> None:
        pass


def problem(dim: int, seed: int, device: torch.device | str) -> Problem:
    return Problem(dim, seed, device)


class BilinearObjective:
    """x (G) descends f, y (D) ascends it; each loss on its own fresh minibatch, or both on one."""

    d_once = True  # (the players are points: nothing is compiled, config.rules refuses it)

    def __init__(self, problem: Problem, G: Point, D: Point, batch_size: int):
        self.problem, self.G, self.D, self.batch_size = problem, G, D, batch_size

    def d_loss(self, step: int):
        loss = -self.problem.f(self.G.v.detach(), self.D.v, self.batch_size)
        return loss, {"loss/D": loss}

    def g_loss(self, step: int):
        loss = self.problem.f(self.G.v, self.D.v.detach(), self.batch_size)
        return loss, {"loss/G": loss}

    def joint_loss(self, step: int):
        f = self.problem.f(self.G.v, self.D.v, self.batch_size)
        return -f, f, {"loss/D": -f, "loss/G": f}

    def after_iteration(self, step: int) -> dict:
        return {}

    def state(self) -> dict:
        return {"data": self.problem}

    def pictures(self, step: int) -> dict:
        return {}
