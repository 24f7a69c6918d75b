"""One iteration of the game: Goodfellow et al. 2014, Algorithm 1, with the stabilisers' hooks.

An iteration takes `d_steps` (k) discriminator steps, each on a fresh real batch and fresh noise,
then one generator step. In the simultaneous order the last discriminator step and the generator
step share one minibatch and both gradients are taken before either player moves.

`Game` is the dynamics, whatever the two players are: the order, the step rule (plain or
extragradient), then Lookahead-Minmax's backtrack and the generator EMA. What each player's loss is
comes from an objective: `GANObjective` (D on real data seen through the lens and on G's samples;
G against D or the unrolled D^K), or any object with the same four methods, such as a bilinear
game. Every stabiliser is an object that does nothing when off.
"""

import os
from pathlib import Path
from typing import Callable, Protocol

import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.nn.utils import get_total_norm, parametrize
from torch.optim import Optimizer

from .config.compose import instantiate
from .losses import Loss, d_loss, no_penalty, widened
from .metrics import NO_EMA
from .models import build, noise
from .models.weights import bias_from_marginals
from .precision import Precision
from .stabilisers.ema import NoEMA, ema
from .stabilisers.extragradient import extragradient_step, plain_step
from .stabilisers.lens import NoLens
from .stabilisers.lookahead import NoLookahead, lookahead
from .stabilisers.unrolled import NoUnroll, unroller

Stats = dict[
    str, Tensor
]  # what a step leaves for the log: losses, D's outputs, ... (on the device)


class Objective(Protocol):
    """Each player's loss on a fresh minibatch, with what the log shows of it."""

    d_once: (
        bool  # D is differentiated once per loss, at its own weights (torch.compile may take it)
    )

    def d_loss(self, step: int) -> tuple[Tensor, Stats]: ...  # a graph to D's parameters only
    def g_loss(self, step: int) -> tuple[Tensor, Stats]: ...
    def joint_loss(self, step: int) -> tuple[Tensor, Tensor, Stats]: ...  # both from one minibatch
    def after_iteration(self, step: int) -> Stats: ...  # e.g. the lens's own step
    def state(
        self,
    ) -> dict: ...  # what the checkpoint holds of it: name -> object with state_dict()
    def pictures(
        self, step: int
    ) -> dict[str, dict[str, Tensor]]: ...  # images to show beside the samples


class GANObjective:
    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        loss: Loss,
        data,
        z_dim: int,
        batch_size: int,
        lens: NoLens,
        unroll: NoUnroll,
        noise_kind: str = "normal",
    ):
        self.G, self.D, self.loss, self.data = G, D, loss, data
        self.z_dim, self.batch_size, self.lens, self.unroll = z_dim, batch_size, lens, unroll
        self.noise_kind = noise_kind  # model.noise
        self.device = next(G.parameters()).device
        # not twice (WGAN-GP's penalty differentiates D's gradient), nor at other weights (unrolled)
        self.d_once = type(unroll) is NoUnroll and loss.penalty is no_penalty

    def noise(self) -> Tensor:
        return noise(self.batch_size, self.z_dim, self.noise_kind, self.device)

    def real(self, step: int) -> Tensor:
        """A fresh real batch, as D sees it (through the lens while it is on)."""
        return self.lens.view(self.data.sample(self.batch_size), step)

    def _d(self, step: int, fake: Tensor) -> tuple[Tensor, Stats]:
        loss, real, fake = d_loss(self.loss, self.D, self.real(step), fake)
        return loss, {"loss/D": loss, "D/real": real, "D/fake": fake}

    def d_loss(self, step: int) -> tuple[Tensor, Stats]:
        with torch.no_grad():
            fake = self.G(self.noise())
        return self._d(step, fake)

    def _g(self, step: int, fake: Callable[[], Tensor], known: Tensor | None = None) -> Tensor:
        return self.loss.g(
            widened(self.unroll.logits(fake, self.G, lambda: self.real(step), self.noise, known))
        )

    def g_loss(self, step: int) -> tuple[Tensor, Stats]:
        loss = self._g(step, lambda: self.G(self.noise()))
        return loss, {"loss/G": loss}

    def joint_loss(self, step: int) -> tuple[Tensor, Tensor, Stats]:
        fake = self.G(self.noise())
        loss_d, stats = self._d(step, fake)
        loss_g = self._g(step, lambda: fake, known=stats["D/fake"])
        return loss_d, loss_g, {**stats, "loss/G": loss_g}

    def after_iteration(self, step: int) -> Stats:
        return self.lens.train_step(step, self.D, lambda: self.data.sample(self.batch_size))

    def state(self) -> dict:
        return {"data": self.data, "lens": self.lens}

    def pictures(self, step: int) -> dict[str, dict[str, Tensor]]:
        return self.lens.pictures(step, self.data)


class Game:
    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_g: Optimizer,
        opt_d: Optimizer,
        objective: Objective,
        *,
        d_steps: int = 1,
        simultaneous: bool = False,
        step_rule: Callable = plain_step,
        lookahead: NoLookahead | None = None,
        ema: NoEMA | None = None,
        precision: Precision | None = None,
        ema_first: bool = False,
    ):
        self.G, self.D, self.opt_g, self.opt_d, self.objective = G, D, opt_g, opt_d, objective
        self.g_params, self.d_params = list(G.parameters()), list(D.parameters())
        self.step_rule = step_rule
        self.lookahead = lookahead or NoLookahead([G, D])
        self.ema = ema or NoEMA(self.lookahead.slow[0])
        # after each iteration: Lookahead's backtrack, then the EMA of the slow G; an EMA of the fast G
        # reads it before the backtrack (the Lookahead-Minmax MNIST notebook's order)
        self.stabilisers = [self.ema, self.lookahead] if ema_first else [self.lookahead, self.ema]
        self.precision = precision or Precision("fp32", self.g_params[0].device, opt_g, opt_d)
        # Algorithm 1's order: the D steps of their own, then G's step or the joint one
        self.d_only_steps = d_steps - simultaneous
        self.last_step = self.joint_step if simultaneous else self.g_step
        self.stats: Stats = {}

    def _backward(
        self, opt: Optimizer, loss: Tensor, params: list[Tensor] | None, retain: bool = False
    ) -> None:
        opt.zero_grad(set_to_none=True)
        self.precision.scaled(opt, loss).backward(inputs=params, retain_graph=retain)

    def d_step(self, step: int) -> None:
        def grads() -> None:
            with self.precision.forwards():
                loss, self.stats = self.objective.d_loss(step)
            self._backward(
                self.opt_d, loss, None
            )  # D's alone: the objective takes G's samples without a graph

        self.step_rule([self.opt_d], grads, self.precision.step)

    def g_step(self, step: int) -> None:
        def grads() -> None:
            with self.precision.forwards():
                loss, stats = self.objective.g_loss(step)
            self.stats.update(stats)
            self._backward(self.opt_g, loss, self.g_params)

        self.step_rule([self.opt_g], grads, self.precision.step)

    def joint_step(self, step: int) -> None:
        def grads() -> None:
            with self.precision.forwards():
                loss_d, loss_g, self.stats = self.objective.joint_loss(step)
            self._backward(self.opt_d, loss_d, self.d_params, retain=True)
            self._backward(self.opt_g, loss_g, self.g_params)

        self.step_rule([self.opt_d, self.opt_g], grads, self.precision.step)

    def iteration(self, step: int) -> Stats:
        """Generator iteration `step` (from 1): Algorithm 1, then the stabilisers' hooks. Returns the
        last step's stats (tensors on the device: nothing here waits for the device)."""
        for _ in range(self.d_only_steps):
            self.d_step(step)
        self.last_step(step)
        stats = {**self.stats, **self.objective.after_iteration(step)}
        for stabiliser in self.stabilisers:
            stabiliser.after_iteration(step)
        return stats

    def grad_norms(self) -> Stats:
        return {
            "grad_norm/D": get_total_norm([p.grad for p in self.d_params if p.grad is not None]),
            "grad_norm/G": get_total_norm([p.grad for p in self.g_params if p.grad is not None]),
        }

    @property
    def evaluated(self) -> nn.Module:
        """The generator that is evaluated and sampled: the EMA, else Lookahead's slow G, else G."""
        return self.ema.evaluated

    @property
    def evaluations(self) -> dict[str, nn.Module]:
        """What each evaluation measures, by metric-name suffix: the evaluated G and, with the EMA on,
        the G it follows (`_no_ema`)."""
        # the paper's tables give both (Chavdarova et al. 2021, Table 2: "no avg" / "EMA"); training
        # does not depend on the EMA, so one run measures both
        followed = {NO_EMA: self.ema.followed} if self.ema.averaged else {}
        return {"": self.ema.evaluated, **followed}

    def state(self) -> dict:
        """Everything the checkpoint holds of the game: name -> object with state_dict()."""
        return {
            "G": self.G,
            "D": self.D,
            "opt_g": self.opt_g,
            "opt_d": self.opt_d,
            "lookahead": self.lookahead,
            "ema": self.ema,
            **self.precision.state(),
            **self.objective.state(),
        }

    def pictures(self, step: int) -> dict[str, dict[str, Tensor]]:
        return self.objective.pictures(step)


def compile_cache(cache_dir: str) -> None:
    """torch.compile's code cache on disk under metrics.cache_dir (shared by a sweep's jobs, on a
    cluster's shared disk too), unless TORCHINDUCTOR_CACHE_DIR says where. Set before torch first
    asks for it (building an optimizer does)."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(cache_dir).expanduser() / "inductor"))


def compile_players(game: Game, mode: str) -> str:
    """trainer.compile: torch.compile G and D in place (their state_dict keys unchanged), once the game
    holds its copies of them (the EMA and Lookahead's slow weights stay eager: they are evaluated,
    not trained). D stays eager where the game differentiates through it twice or calls it with
    other weights (unrolling, WGAN-GP's penalty): compiled graphs have no double backward; and with
    spectral norm, whose power iteration updates its vectors in place on every forward: D's second
    forward of a step (real, then fake) would overwrite what the compiled first one saved for its
    backward. Returns what was compiled, for the log."""
    if (
        mode == "off"
    ):  # (the bilinear game, whose players are points, refuses it in config/rules.py)
        return ""
    compiled = [game.G]
    if game.objective.d_once and not any(  # and no spectral norm
        parametrize.is_parametrized(m) for m in game.D.modules()
    ):
        compiled.append(game.D)
    for net in compiled:
        net.compile(mode=None if mode == "default" else mode)
    return (
        f"torch.compile ({mode}): {' and '.join('G' if n is game.G else 'D' for n in compiled)}"
        + (
            ""
            if len(compiled) == 2
            else "; D eager (differentiated twice, unrolled, or spectrally normalised)"
        )
    )


def dataset(cfg: DictConfig, device: torch.device):
    return instantiate(cfg.dataset, device=device)


def players(cfg: DictConfig, device: torch.device):
    """The dataset and both players, as configured."""
    data = dataset(cfg, device)
    g, d = build(cfg.model, data.shape)
    if cfg.model.init == "goodfellow":  # G's output bias from the training images' mean pixels
        mean = sum(b.double().sum(0) for b in data.batches(4096)) / len(data) / 255
        bias_from_marginals(g, mean.float().cpu(), cfg.model.output)
    return data, g.to(device), d.to(device)


def gan_game(cfg: DictConfig, data, G: nn.Module, D: nn.Module, device: torch.device) -> Game:
    """The configured game over `data`, G and D: the GAN game, or the game a dataset brings (bilinear)."""
    t = cfg.trainer
    opt_g = instantiate(cfg.optimizer.g, G.parameters(), _convert_="all")
    opt_d = instantiate(cfg.optimizer.d, D.parameters(), _convert_="all")
    if hasattr(
        data, "objective"
    ):  # a game with its own objective (config/rules.py allows no loss, lens or unrolling)
        objective = data.objective(G, D, t.batch_size)
    else:
        loss = instantiate(cfg.loss)
        lens = instantiate(
            cfg.lens, data_shape=data.shape, loss=loss, device=device, _convert_="all"
        )
        unroll = unroller(
            D, opt_d, loss, t.unroll_steps, t.unroll_second_order, t.unroll_fresh_batches
        )
        objective = GANObjective(
            G, D, loss, data, cfg.model.z_dim, t.batch_size, lens, unroll, cfg.model.noise
        )
    la = lookahead(
        [G, D],
        cfg.optimizer.lookahead.k,
        cfg.optimizer.lookahead.alpha,
        cfg.optimizer.lookahead.lazy,
    )
    fast = (
        t.ema and t.ema_follows == "fast"
    )  # without the EMA, the slow G is evaluated whatever it would follow
    return Game(
        G,
        D,
        opt_g,
        opt_d,
        objective,
        d_steps=t.d_steps,
        simultaneous=t.order == "simultaneous",
        step_rule=extragradient_step if cfg.optimizer.extragradient else plain_step,
        lookahead=la,
        ema=ema(G if fast else la.slow[0], t.ema),
        ema_first=bool(fast),
        precision=Precision(t.precision, device, opt_g, opt_d),
    )
