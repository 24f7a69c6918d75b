"""The training loop: Goodfellow et al. 2014, Algorithm 1.

Each iteration takes `d_steps` (k) discriminator steps, each on a fresh real batch and fresh
noise, then one generator step. With `update=simultaneous` the last discriminator step and the
generator step share one minibatch and both gradients are taken before either player moves.
"""

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.nn.utils import get_total_norm

from . import checkpoint, results
from .config import ConfigError
from .evaluation import Evaluator
from .logging import RunLogger
from .losses import d_loss
from .signals import StopRequest


@dataclass
class Outcome:
    status: str  # completed | diverged | interrupted
    step: int
    wall_time: float
    history: list[dict] = field(default_factory=list)  # {"step": s, <metric>: value, ...} per evaluation
    note: str = ""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but PyTorch sees no CUDA device here. "
                          "Use trainer.device=cpu or trainer.device=auto.")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"trainer.device={name} but only {torch.cuda.device_count()} CUDA device(s) are visible.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"trainer.device={name} but MPS is not available here. Use trainer.device=cpu.")
    return device


def build(cfg: DictConfig, device: torch.device):
    """The dataset and both players, as configured."""
    data = instantiate(cfg.dataset, device=device)
    g, d = instantiate(cfg.model, data_shape=data.shape)
    return data, g.to(device), d.to(device)


def train(cfg: DictConfig, run_dir: Path, overrides: list[str] = ()) -> Outcome:
    """Train in `run_dir`, continuing from `run_dir/checkpoints/last.pt` when it exists, and write
    `run_dir/results.json` however the run ends."""
    out = Outcome("completed", step=0, wall_time=0.0)
    try:
        _train(cfg, run_dir, out)
    except Exception as e:
        out.status, out.note = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        results.write(run_dir, out.status, step=out.step, steps=cfg.trainer.steps, wall_time=out.wall_time,
                      history=out.history, overrides=list(overrides), note=out.note)
    return out


def _train(cfg: DictConfig, run_dir: Path, out: Outcome) -> None:
    t = OmegaConf.to_object(cfg.trainer)  # a plain dataclass: cheap attribute access in the loop
    device = resolve_device(t.device)
    torch.manual_seed(t.seed)
    data, G, D = build(cfg, device)
    opt_g = instantiate(cfg.optimizer.g, G.parameters(), _convert_="all")
    opt_d = instantiate(cfg.optimizer.d, D.parameters(), _convert_="all")
    loss = instantiate(cfg.loss)
    evaluate = Evaluator(cfg.metrics, data, cfg.model.z_dim, t.seed, device)

    ckpt_path = run_dir / "checkpoints" / "last.pt"
    stateful = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    if ckpt_path.exists():
        try:
            meta = checkpoint.load(ckpt_path, stateful)
        except (RuntimeError, KeyError, ValueError) as e:
            raise ConfigError(f"Cannot resume from {ckpt_path}: it does not match this run's config "
                              f"({str(e).splitlines()[0]}). Resume with the run's own overrides "
                              f"(gan-runner resume={run_dir}) or start in a new directory.") from None
        out.step, out.wall_time, out.history = meta["step"], meta["wall_time"], meta["history"]

    def save() -> None:
        meta = {"step": out.step, "wall_time": out.wall_time + time.perf_counter() - t0, "history": out.history}
        checkpoint.save(ckpt_path, stateful, meta)

    z_dim = cfg.model.z_dim

    def noise(n: int) -> torch.Tensor:
        return torch.randn(n, z_dim, device=device)

    g_params, d_params = list(G.parameters()), list(D.parameters())
    simultaneous = t.update == "simultaneous"
    B = t.batch_size
    log = RunLogger(run_dir, out.step, t.steps)
    if out.step:
        log.message(f"resumed from {ckpt_path} at step {out.step}")
    t0 = time.perf_counter()
    with StopRequest() as stop, log:
        for step in range(out.step + 1, t.steps + 1):
            # Discriminator: k steps, each on a fresh real batch and fresh noise.
            for _ in range(t.d_steps - simultaneous):
                with torch.no_grad():
                    fake = G(noise(B))
                real_logits, fake_logits = D(data.sample(B)), D(fake)
                loss_d = d_loss(loss, real_logits, fake_logits)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()

            if simultaneous:  # one minibatch; both gradients at the current point, then both steps
                real_logits, fake_logits = D(data.sample(B)), D(G(noise(B)))
                loss_d, loss_g = d_loss(loss, real_logits, fake_logits), loss.g(fake_logits)
                opt_d.zero_grad(set_to_none=True)
                opt_g.zero_grad(set_to_none=True)
                loss_d.backward(inputs=d_params, retain_graph=True)
                loss_g.backward(inputs=g_params)
                opt_d.step()
            else:  # Generator: one step against the updated discriminator.
                loss_g = loss.g(D(G(noise(B))))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward(inputs=g_params)
            opt_g.step()
            out.step = step

            last = step == t.steps
            if step % t.log_every == 0 or last:
                stats = {"loss/D": loss_d, "loss/G": loss_g,
                         "D/real": real_logits.mean(), "D/fake": fake_logits.mean(),
                         "grad_norm/D": get_total_norm([p.grad for p in d_params]),
                         "grad_norm/G": get_total_norm([p.grad for p in g_params])}
                stats = {k: v.item() for k, v in stats.items()}
                if not all(map(math.isfinite, stats.values())):
                    out.status, out.note = "diverged", f"non-finite loss or gradient at step {step}"
                    log.message(f"diverged: {out.note}")
                    break
                log.scalars(step, stats)
            with log.paused():
                if t.sample_every and (step % t.sample_every == 0 or last):
                    log.scatter(step, evaluate.samples(G), data.centers)
                if (t.eval_every and step % t.eval_every == 0) or last:
                    metrics = evaluate(G)
                    out.history.append({"step": step, **metrics})
                    log.metrics(step, metrics)
                if (t.ckpt_every and step % t.ckpt_every == 0) or last or stop:
                    save()
            if stop:
                out.status, out.note = "interrupted", f"{stop.signal} at step {step}"
                log.message(f"interrupted by {stop.signal}: checkpoint saved at step {step}")
                break

        out.wall_time += time.perf_counter() - t0
        if out.status == "completed" and out.history:
            log.hparams(cfg, {k: v for k, v in out.history[-1].items() if k != "step"})
