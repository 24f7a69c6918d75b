"""The training loop: Goodfellow et al. 2014, Algorithm 1.

Each iteration takes `d_steps` (k) discriminator steps, each on a fresh real batch and fresh
noise, then one generator step. With `update=simultaneous` the last discriminator step and the
generator step share one minibatch and both gradients are taken before either player moves.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from hydra.errors import InstantiationException
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
    status: str  # completed | diverged | interrupted | failed
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
    try:
        data = instantiate(cfg.dataset, device=device)
        g, d = instantiate(cfg.model, data_shape=data.shape)
    except InstantiationException as e:  # Hydra wraps what the targets raise: unwrap bad input
        if isinstance(e.__cause__, ConfigError):
            raise e.__cause__ from None
        raise
    return data, g.to(device), d.to(device)


def train(cfg: DictConfig, run_dir: Path, overrides: list[str] = ()) -> Outcome:
    """Train in `run_dir`, continuing from `run_dir/checkpoints/last.pt` when it exists, and write
    `run_dir/results.json` however the run ends, unless the config itself is at fault."""
    out = Outcome("failed", step=0, wall_time=0.0)
    try:
        _train(cfg, run_dir, out)
    except ConfigError:
        raise  # bad input: nothing ran, nothing to report
    except BaseException as e:
        out.status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        out.note = f"{type(e).__name__}: {e}"
        _report(run_dir, out, cfg.trainer.steps, overrides)
        raise
    _report(run_dir, out, cfg.trainer.steps, overrides)
    return out


def _report(run_dir: Path, out: Outcome, steps: int, overrides: list[str]) -> None:
    results.write(run_dir, out.status, step=out.step, steps=steps, wall_time=out.wall_time,
                  history=out.history, overrides=list(overrides), note=out.note)


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
    stateful = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d, "data": data}
    if ckpt_path.exists():
        try:
            meta = checkpoint.load(ckpt_path, stateful, device)
        except (RuntimeError, KeyError, ValueError) as e:
            raise ConfigError(f"Cannot resume from {ckpt_path}: it does not match this run's config "
                              f"({str(e).splitlines()[0]}). Continue it with its own overrides "
                              f"(gan-runner resume={run_dir}) or start in a new directory.") from None
        out.step, out.wall_time, out.history = meta["step"], meta["wall_time"], meta["history"]
        for opt, player in ((opt_g, cfg.optimizer.g), (opt_d, cfg.optimizer.d)):
            for group in opt.param_groups:
                group["lr"] = player.lr  # a resumed run may change its learning rates (config.RESUMABLE)

    start = out.step

    def save() -> None:
        meta = {"step": out.step, "wall_time": out.wall_time + time.perf_counter() - t0, "history": out.history,
                "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "data_shape": data.shape}
        checkpoint.save(ckpt_path, stateful, meta, device)

    params = [*G.parameters(), *D.parameters()]
    finite = torch.ones((), dtype=torch.bool, device=device)  # every loss finite since the last check
    checked = out.step

    def healthy(step: int) -> bool:
        """Checked (one device sync) before anything is logged, evaluated or saved: a diverged run
        keeps its last good checkpoint."""
        nonlocal checked
        if not (finite.item() and all(torch.isfinite(p).all() for p in params)):
            out.status = "diverged"
            out.note = f"non-finite loss or parameters at step {step} (all finite at step {checked})"
            log.message(f"diverged: {out.note}")
            return False
        checked = step
        return True

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
            if stop:
                if healthy(out.step):
                    save()
                    out.status, out.note = "interrupted", f"{stop.signal}: stopped after step {out.step}"
                    log.message(f"{out.note}; checkpoint saved")
                break

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
            finite &= torch.isfinite(loss_d + loss_g)
            out.step = step

            last = step == t.steps
            log_now = step % t.log_every == 0 or last
            sample_now = (t.sample_every and step % t.sample_every == 0) or last
            eval_now = (t.eval_every and step % t.eval_every == 0) or last
            ckpt_now = (t.ckpt_every and step % t.ckpt_every == 0) or last
            if (log_now or sample_now or eval_now or ckpt_now) and not healthy(step):
                break
            if log_now:
                stats = {"loss/D": loss_d, "loss/G": loss_g,
                         "D/real": real_logits.mean(), "D/fake": fake_logits.mean(),
                         "grad_norm/D": get_total_norm([p.grad for p in d_params]),
                         "grad_norm/G": get_total_norm([p.grad for p in g_params])}
                log.scalars(step, {k: v.item() for k, v in stats.items()})
            with log.paused():
                if sample_now:
                    log.samples(step, data.show(evaluate.samples(G, data.preview)))
                if eval_now:
                    metrics = evaluate.metrics(G)
                    out.history.append({"step": step, **metrics})
                    log.metrics(step, metrics)
                if ckpt_now:
                    save()
        else:
            out.status = "completed"

        out.wall_time += time.perf_counter() - t0
        if out.status in ("completed", "diverged") and out.step > start:
            final = {k: v for k, v in out.history[-1].items() if k != "step"} if out.history else {}
            log.hparams(cfg, out.status, final)
