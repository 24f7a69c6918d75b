"""The training loop: the schedule, the run's health, logging, evaluation, checkpoints and the
report. One iteration of the game (Goodfellow et al. 2014, Algorithm 1, with the stabilisers) is
`game.Game.iteration`; everything here is the same whichever stabilisers are on."""

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from . import checkpoint
from .console import count
from .device import describe
from .errors import UserError
from .evaluation import Evaluator
from .game import compile_players, gan_game
from .metrics import TRAINING, best
from .preflight import Ready, build
from .resume import restore
from .run_dir import (
    COMPLETED,
    DIVERGED,
    FAILED,
    INTERRUPTED,
    RunDir,
    add_protocols,
    read_results,
    remove_stale_temp_files,
    write_results,
)
from .runlog import RunLogger, captioned
from .signals import StopRequest


@dataclass
class Outcome:
    status: str  # run_dir.STATUSES
    step: int
    wall_time: float
    history: list[dict] = field(
        default_factory=list
    )  # {"step": s, <metric>: value, ...} per evaluation
    note: str = ""
    started: float = field(
        default_factory=time.time
    )  # this attempt's start, seconds since the epoch
    device: dict = field(default_factory=dict)  # device.describe
    best_saved: int | None = None  # the step checkpoints/best.pt holds
    info: dict = field(
        default_factory=dict
    )  # what the metrics were prepared with (the classifier's accuracy, ...)
    first_started: float | None = None  # the first attempt's start, when this one continues it
    protocols: list[dict] = field(default_factory=list)  # how each value was measured (run_dir)

    @property
    def final(self) -> dict:
        """The metrics of the last evaluation."""
        return {k: v for k, v in self.history[-1].items() if k != "step"} if self.history else {}


def train(
    cfg: DictConfig, run_dir: Path, overrides: list[str] = (), ready: Ready | None = None
) -> Outcome:
    """Train in `run_dir`, continuing from its checkpoint when it holds one, and write its
    results.json however the run ends, unless the config itself is at fault. `ready`: what the
    run's pre-flight built and read (preflight.check); without it, built here unchecked."""
    run, out = RunDir(run_dir), Outcome(FAILED, step=0, wall_time=0.0)
    remove_stale_temp_files(run)  # of an attempt killed while it wrote
    try:
        _train(cfg, run, out, ready or build(cfg, run))
    except UserError:
        raise  # bad input: nothing ran, nothing to report
    except BaseException as e:  # SystemExit: a signal handler (submitit's) ended the process
        out.status = INTERRUPTED if isinstance(e, (KeyboardInterrupt, SystemExit)) else FAILED
        out.note = f"{type(e).__name__}: {e}"
        _report(run, out, cfg.trainer.steps, overrides)
        raise
    _report(run, out, cfg.trainer.steps, overrides)
    return out


def _report(run: RunDir, out: Outcome, steps: int, overrides: list[str]) -> None:
    host = {
        "name": socket.gethostname(),
        "torch_threads": torch.get_num_threads(),
        **{
            k: os.environ.get(k)
            for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_RESTART_COUNT")
        },
    }
    write_results(
        run,
        out.status,
        note=out.note,
        overrides=list(overrides),
        step=out.step,
        steps=steps,
        wall_time=out.wall_time,
        history=out.history,
        started=out.started,
        host=host,
        device=out.device,
        best=_best(run, out),
        info=out.info,
        first_started=out.first_started,
        protocols=out.protocols,
    )


def _best(run: RunDir, out: Outcome) -> dict:
    """The best evaluation (metrics.best), with `checkpoint` when checkpoints/best.pt holds its step."""
    top = best(out.history)
    if top.get("by") and top["step"] == out.best_saved:
        top["checkpoint"] = str(run.best_checkpoint.relative_to(run.path))
    return top


class Health:
    """Non-finite losses are tracked on the device every step (no host sync); `problem` (one sync)
    also checks everything the next step would read, the players' parameters and their optimizers'
    state (Adam's second moment overflows before the weights do), before anything is logged,
    evaluated or saved, so a diverged run keeps its last good checkpoint."""

    def __init__(
        self, modules: list[torch.nn.Module], optimizers: list[torch.optim.Optimizer], step: int
    ):
        self.modules, self.optimizers, self.checked = modules, optimizers, step
        self.finite = torch.ones((), dtype=torch.bool, device=next(modules[0].parameters()).device)

    def track(self, stats: dict) -> None:
        self.finite &= torch.isfinite(stats["loss/D"] + stats["loss/G"])

    def problem(self, step: int) -> str:
        read = [
            *(p for m in self.modules for p in m.parameters()),
            *(
                v
                for opt in self.optimizers
                for state in opt.state.values()
                for v in state.values()
                if torch.is_tensor(v) and v.is_floating_point()
            ),
        ]
        device = self.finite.device  # Adam keeps its step count on the CPU whatever the device
        if (
            torch.stack([self.finite, *(torch.isfinite(t).all().to(device) for t in read)])
            .all()
            .item()
        ):
            self.checked = step
            return ""
        return (
            f"a non-finite loss, parameter or optimizer state at step {step} (all finite at step "
            f"{self.checked})"
        )


class Window:
    """The mean of each training statistic over the iterations since the last log line or evaluation,
    summed on the device (no host sync), read at an evaluation into its history entry as
    `train_<stat>` (e.g. train_loss_d: D's loss; train_lens_rec: ‖x − L(x)‖²): what a claim's
    preconditions read to tell a run that trained from one that did not (D at chance, a lens that
    never moved). Part of the checkpoint: a run stopped mid-window reports the same means resumed."""

    def __init__(self, device: torch.device):
        self.device = device
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict) -> None:
        for k, v in stats.items():
            v = v.detach().float().mean()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        names = list(self.sums)
        values = torch.stack([self.sums[k].cpu() for k in names]).tolist() if names else []
        out = {
            f"train_{k.lower().replace('/', '_')}": v / self.counts[k]
            for k, v in zip(names, values)
        }
        self.reset()
        return out

    def reset(self) -> None:
        self.sums, self.counts = {}, {}

    def state_dict(
        self,
    ) -> dict:  # empty when empty: checkpoints from before it load (checkpoint.restore)
        return {"sums": dict(self.sums), "counts": dict(self.counts)} if self.sums else {}

    def load_state_dict(self, state: dict) -> None:
        self.sums = {k: v.to(self.device) for k, v in state.get("sums", {}).items()}
        self.counts = dict(state.get("counts", {}))


@dataclass(frozen=True)
class Due:
    """What is due after a step: intervals in generator iterations, everything at the end, 0 = only then."""

    log: bool
    sample: bool
    eval: bool
    ckpt: bool

    @classmethod
    def after(cls, t, step: int) -> "Due":
        def at(every: int) -> bool:
            return step == t.steps or bool(every and step % every == 0)

        return cls(at(t.log_every), at(t.sample_every), at(t.eval_every), at(t.ckpt_every))

    def __bool__(self) -> bool:
        return self.log or self.sample or self.eval or self.ckpt


class Checkpoints:
    """Writes checkpoints/last.pt and best.pt: everything the run needs to continue bit for bit, and
    what gan-runner-sample and -eval use (the evaluated G, the data's shape, the config)."""

    def __init__(self, run: RunDir, state: dict, cfg: DictConfig, data_shape, game, device):
        self.run, self.state, self.game, self.device = run, state, game, device
        self.config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        self.data_shape = data_shape

    def save(self, out: Outcome, wall_time: float, best: bool = False) -> None:
        meta = {
            "step": out.step,
            "wall_time": wall_time,
            "history": out.history,
            "protocols": out.protocols,
            "config": self.config,
            "data_shape": self.data_shape,
            "evaluated_G": self.game.evaluated.state_dict(),
        }
        path = self.run.best_checkpoint if best else self.run.checkpoint
        checkpoint.save(path, self.state, meta, self.device)


def diverged(out: Outcome, health: Health, log: RunLogger, step: int) -> bool:
    """Whether the run is no longer finite at `step`; if so, `out` says so."""
    out.note = health.problem(step)
    if out.note:
        out.status = DIVERGED
        log.message(f"diverged: {out.note}")
    return bool(out.note)


def _train(cfg: DictConfig, run: RunDir, out: Outcome, ready: Ready) -> None:
    # --- the game (the players the pre-flight built), its measures and its checkpoints ------------
    t = OmegaConf.to_object(cfg.trainer)  # a plain dataclass: cheap attribute access in the loop
    device, data, G, D = ready.device, ready.data, ready.G, ready.D
    out.device = describe(device)
    game = gan_game(cfg, data, G, D, device)
    compiled = compile_players(game, t.compile)
    window = Window(device)
    state = {**game.state(), "window": window}  # everything the checkpoint holds
    # what the metrics need is trained or loaded now, before training, and draws nothing from the
    # run's RNG: a cold and a warm cache give the same run
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        evaluate = Evaluator(cfg, data, device)
    out.info = evaluate.info
    checkpoints = Checkpoints(run, state, cfg, data.shape, game, device)

    # --- continue from the checkpoint (read once, by the pre-flight) ------------------------------
    meta = restore(run, ready.saved, state, cfg, device)
    ready.saved = None  # restored: its host copy goes
    if meta:
        out.step, out.wall_time, out.history = meta["step"], meta["wall_time"], meta["history"]
        out.protocols = meta.get("protocols", [])  # none in a checkpoint from before they were kept
        earlier = read_results(run) or {}
        out.first_started = earlier.get("first_started") or earlier.get("started")
        out.best_saved = checkpoint.saved_step(run.best_checkpoint)
    else:  # an attempt that never saved last.pt: its best is not this run's, nor served as one
        run.best_checkpoint.unlink(missing_ok=True)
    start, health = out.step, Health([G, D], [game.opt_g, game.opt_d], out.step)
    log = RunLogger(run, out.step, t.steps)
    log.info = evaluate.info
    log.config(cfg, out.step)
    log.message(
        f"device: {out.device['device']} ({out.device['name']}), "
        + count(torch.get_num_threads(), "thread")
        + (f"; {compiled}" if compiled else "")
        + (f"; {t.precision} forwards" if t.precision != "fp32" else "")
    )
    log.message(
        f"metrics: {', '.join(evaluate.names)}"
        + "".join(f"; {k} {v:.4g}" for k, v in evaluate.info.items())
    )
    if meta:
        log.message(f"resumed from {run.checkpoint} at step {out.step}")
    if out.step == t.steps:
        log.message(f"already at step {out.step} (trainer.steps={t.steps}): nothing to train")

    # --- the loop: an iteration of the game, then whatever is due --------------------------------
    t0 = time.perf_counter()
    with StopRequest() as stop, log:
        for step in range(out.step + 1, t.steps + 1):
            # a signal asked to stop: save (unless diverged) and end, to be resumed
            if stop:
                if not diverged(out, health, log, out.step):
                    checkpoints.save(out, out.wall_time + time.perf_counter() - t0)
                    out.status = INTERRUPTED
                    out.note = f"{stop.signal}: stopped after step {out.step}"
                    log.message(f"{out.note}; checkpoint saved")
                    stop.honoured()
                break

            # one generator iteration (Algorithm 1 with the stabilisers); nothing read on the host
            stats = game.iteration(step)
            health.track(stats)
            window.add(stats)
            out.step = step
            if step == start + 1:  # a word within seconds, whatever the log interval
                log.first_step(step, time.perf_counter() - t0)
            due = Due.after(t, step)
            if due and diverged(out, health, log, step):
                break

            # log, show, evaluate, save: what is due after this step
            if due.log:
                log.scalars(
                    step, {k: v.mean().item() for k, v in {**stats, **game.grad_norms()}.items()}
                )
                if not due.eval:
                    window.reset()  # an evaluation reads the iterations since the last log line
            with log.paused():
                if due.sample:
                    log.samples(step, data.show(evaluate.samples(game.evaluated, data.preview)))
                    for tag, panels in game.pictures(step).items():
                        log.samples(
                            step, captioned({c: data.show(x) for c, x in panels.items()}), tag
                        )
                if due.eval:
                    metrics = {
                        f"{k}{suffix}": v
                        for suffix, g in game.evaluations.items()
                        for k, v in evaluate.metrics(g, game, players=not suffix).items()
                    }
                    log.metrics(step, metrics)
                    out.history.append({"step": step, **metrics, **window.means()})
                    add_protocols(
                        out.protocols, step, {k: evaluate.protocol_of(k) for k in metrics}
                    )
                    top = best(out.history)
                    if top["by"] and top["step"] == step:  # a new best: gan-runner-sample --best
                        checkpoints.save(out, out.wall_time + time.perf_counter() - t0, best=True)
                        out.best_saved = step
                if due.ckpt:
                    checkpoints.save(out, out.wall_time + time.perf_counter() - t0)
        else:
            out.status = COMPLETED

        # --- the end: the run's time, and its final metrics beside its hyper-parameters ----------
        out.wall_time += time.perf_counter() - t0
        if out.status in (COMPLETED, DIVERGED) and out.step > start:
            log.hparams(
                cfg,
                out.status,
                {k: v for k, v in out.final.items() if k not in TRAINING},
            )
