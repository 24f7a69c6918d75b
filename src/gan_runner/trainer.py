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
from .device import describe, resolve_device
from .errors import ConfigError
from .evaluation import Evaluator
from .game import compile_cache, compile_players, gan_game, players
from .metrics import TRAINING, best
from .resume import restore
from .run_dir import (
    COMPLETED,
    DIVERGED,
    FAILED,
    INTERRUPTED,
    RunDir,
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


def train(cfg: DictConfig, run_dir: Path, overrides: list[str] = ()) -> Outcome:
    """Train in `run_dir`, continuing from its checkpoint when it holds one, and write its
    results.json however the run ends, unless the config itself is at fault."""
    run, out = RunDir(run_dir), Outcome(FAILED, step=0, wall_time=0.0)
    remove_stale_temp_files(run)  # of an attempt killed while it wrote
    try:
        _train(cfg, run, out)
    except ConfigError:
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
        best_saved=out.best_saved,
        info=out.info,
        first_started=out.first_started,
    )


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
    ) -> dict:  # empty when empty: checkpoints from before it load (checkpoint.load)
        return {"sums": dict(self.sums), "counts": dict(self.counts)} if self.sums else {}

    def load_state_dict(self, state: dict) -> None:
        self.sums = {k: v.to(self.device) for k, v in state.get("sums", {}).items()}
        self.counts = dict(state.get("counts", {}))


def due(t, step: int) -> set[str]:
    """What is due after `step`: intervals in generator iterations, everything at the end, 0 = only then."""
    final = step == t.steps
    return {
        what
        for what, every in (
            ("log", t.log_every),
            ("sample", t.sample_every),
            ("eval", t.eval_every),
            ("ckpt", t.ckpt_every),
        )
        if final or (every and step % every == 0)
    }


def _train(cfg: DictConfig, run: RunDir, out: Outcome) -> None:
    t = OmegaConf.to_object(cfg.trainer)  # a plain dataclass: cheap attribute access in the loop
    compile_cache(cfg.metrics.cache_dir)
    device = resolve_device(t.device)
    out.device = describe(device)
    torch.manual_seed(t.seed)
    data, G, D = players(cfg, device)
    game = gan_game(cfg, data, G, D, device)
    compiled = compile_players(game, t.compile)
    window = Window(device)
    state = {**game.state(), "window": window}  # everything the checkpoint holds
    # what the metrics need is trained or loaded now, before training, and draws nothing from the
    # run's RNG: a cold and a warm cache give the same run
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        evaluate = Evaluator(cfg, data, device)
    out.info = evaluate.info
    meta = restore(run, state, cfg, device)
    if meta:
        out.step, out.wall_time, out.history = meta["step"], meta["wall_time"], meta["history"]
        earlier = read_results(run) or {}
        out.first_started = earlier.get("first_started") or earlier.get("started")
        out.best_saved = checkpoint.saved_step(run.best_checkpoint)
    else:  # an attempt that never saved last.pt: its best is not this run's, nor served as one
        run.best_checkpoint.unlink(missing_ok=True)
    start, health = out.step, Health([G, D], [game.opt_g, game.opt_d], out.step)
    log = RunLogger(run, out.step, t.steps)
    log.config(cfg, out.step)
    log.message(
        f"device: {out.device['device']} ({out.device['name']}), {torch.get_num_threads()} threads"
        + (f"; {compiled}" if compiled else "")
        + (f"; {t.precision} forwards" if t.precision != "fp32" else "")
    )
    log.message(
        f"metrics: {', '.join(evaluate.names)}"
        + "".join(f"; {k} {v:.4g}" for k, v in evaluate.info.items())
    )
    if meta:
        log.message(f"resumed from {run.checkpoint} at step {out.step}")

    def save(path: Path = run.checkpoint) -> None:
        checkpoint.save(
            path,
            state,
            {
                "step": out.step,
                "wall_time": out.wall_time + time.perf_counter() - t0,
                "history": out.history,
                "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
                "data_shape": data.shape,
                "evaluated_G": game.evaluated.state_dict(),
            },
            device,
        )  # what gan-runner-sample and -eval use

    def unhealthy(step: int) -> bool:
        out.note = health.problem(step)
        if out.note:
            out.status = DIVERGED
            log.message(f"diverged: {out.note}")
        return bool(out.note)

    t0 = time.perf_counter()
    with StopRequest() as stop, log:
        for step in range(out.step + 1, t.steps + 1):
            if stop:
                if not unhealthy(out.step):
                    save()
                    out.status, out.note = (
                        INTERRUPTED,
                        f"{stop.signal}: stopped after step {out.step}",
                    )
                    log.message(f"{out.note}; checkpoint saved")
                    stop.honoured()
                break
            stats = game.iteration(step)
            health.track(stats)
            window.add(stats)
            out.step = step
            now = due(t, step)
            if now and unhealthy(step):
                break
            if "log" in now:
                log.scalars(
                    step, {k: v.mean().item() for k, v in {**stats, **game.grad_norms()}.items()}
                )
                if "eval" not in now:
                    window.reset()  # an evaluation reads the iterations since the last log line
            with log.paused():
                if "sample" in now:
                    log.samples(step, data.show(evaluate.samples(game.evaluated, data.preview)))
                    for tag, panels in game.pictures(step).items():
                        log.samples(
                            step, captioned({c: data.show(x) for c, x in panels.items()}), tag
                        )
                if "eval" in now:
                    metrics = {
                        f"{k}{suffix}": v
                        for suffix, g in game.evaluations.items()
                        for k, v in evaluate.metrics(g, game, players=not suffix).items()
                    }
                    log.metrics(step, metrics)
                    out.history.append({"step": step, **metrics, **window.means()})
                    top = best(out.history)
                    if (
                        top["by"] and top["step"] == step
                    ):  # a new best evaluation: gan-runner-sample/-eval --best
                        save(run.best_checkpoint)
                        out.best_saved = step
                if "ckpt" in now:
                    save()
        else:
            out.status = COMPLETED

        out.wall_time += time.perf_counter() - t0
        if out.status in (COMPLETED, DIVERGED) and out.step > start:
            log.hparams(
                cfg,
                out.status,
                {k: v for k, v in out.history[-1].items() if k != "step" and k not in TRAINING}
                if out.history
                else {},
            )
