"""The training loop: Goodfellow et al. 2014, Algorithm 1, with the stabilisers plugged in.

Each iteration takes `d_steps` (k) discriminator steps, each on a fresh real batch and fresh
noise, then one generator step. With `update=simultaneous` the last discriminator step and the
generator step share one minibatch and both gradients are taken before either player moves.

The stabilisers enter through five small pieces: `update` (a plain or an extragradient step),
`unroll.critic` (D, or the unrolled D^K, that G's loss is taken against), `lens.view` and
`lens.update` (what D sees as real data, and the lens's own step), each the identity when off;
and, when on, `lookahead.after_iteration` (the joint backtrack) and `ema` (the generator that is
evaluated, an average of G or of Lookahead's slow G).
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.utils import get_total_norm
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import checkpoint, results
from .config import ConfigError
from .data.images import IndexedImages
from .evaluation import Evaluator
from .logging import RunLogger
from .losses import d_loss
from .optim.extragradient import extragradient_update, plain_update
from .optim.lookahead import LookaheadMinmax
from .optim.unrolled import Unroller
from .signals import StopRequest


@dataclass
class Outcome:
    status: str  # completed | diverged | interrupted | failed
    step: int
    wall_time: float
    history: list[dict] = field(default_factory=list)  # {"step": s, <metric>: value, ...} per evaluation
    note: str = ""
    started: float = field(default_factory=time.time)  # this attempt's start, seconds since the epoch


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
    except BaseException as e:  # SystemExit: a signal handler (submitit's) ended the process
        out.status = "interrupted" if isinstance(e, (KeyboardInterrupt, SystemExit)) else "failed"
        out.note = f"{type(e).__name__}: {e}"
        _report(run_dir, out, cfg.trainer.steps, overrides)
        raise
    _report(run_dir, out, cfg.trainer.steps, overrides)
    return out


def _report(run_dir: Path, out: Outcome, steps: int, overrides: list[str]) -> None:
    results.write(run_dir, out.status, step=out.step, steps=steps, wall_time=out.wall_time,
                  history=out.history, overrides=list(overrides), note=out.note, started=out.started)


def _train(cfg: DictConfig, run_dir: Path, out: Outcome) -> None:
    t = OmegaConf.to_object(cfg.trainer)  # a plain dataclass: cheap attribute access in the loop
    device = resolve_device(t.device)
    torch.manual_seed(t.seed)
    data, G, D = build(cfg, device)
    opt_g = instantiate(cfg.optimizer.g, G.parameters(), _convert_="all")
    opt_d = instantiate(cfg.optimizer.d, D.parameters(), _convert_="all")
    loss = instantiate(cfg.loss)

    # The stabilisers, each off unless configured (DESIGN.md §4):
    update = extragradient_update if cfg.optimizer.extragradient else plain_update  # how players step
    unroll = Unroller(D, opt_d, loss, t.unroll_steps, t.unroll_second_order,  # what G's loss is taken against
                      t.unroll_fresh_batches)
    lens = instantiate(cfg.lens, data_shape=data.shape, loss=loss, device=device, _convert_="all")  # what D sees
    lookahead = LookaheadMinmax([G, D], cfg.optimizer.lookahead.k, cfg.optimizer.lookahead.alpha) \
        if cfg.optimizer.lookahead.k else None

    # the generator the EMA follows: Lookahead's slow one when on; evaluation uses the EMA if any
    tracked = lookahead.slow[0] if lookahead else G
    ema = AveragedModel(tracked, multi_avg_fn=get_ema_multi_avg_fn(t.ema), use_buffers=True) if t.ema else None

    def evaluated() -> nn.Module:
        return ema.module if ema else tracked

    # what the metrics need is trained or loaded now, before training, and draws nothing from the
    # run's RNG: a cold and a warm cache give the same run
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        evaluate = Evaluator(cfg, data, device)

    ckpt_path = run_dir / "checkpoints" / "last.pt"
    stateful = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d, "data": data, "lens": lens,
                **({"lookahead": lookahead} if lookahead else {}), **({"ema": ema} if ema else {})}
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
                "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "data_shape": data.shape,
                "evaluated_G": evaluated().state_dict()}  # what gan-runner-sample (and evaluation) use
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

    z_dim, B = cfg.model.z_dim, t.batch_size
    g_params, d_params = list(G.parameters()), list(D.parameters())
    simultaneous = t.update == "simultaneous"
    # the tensors the closures leave behind for logging: losses and D's outputs of the last step
    last = {}

    def noise(n: int) -> torch.Tensor:
        return torch.randn(n, z_dim, device=device)

    def real(step: int) -> torch.Tensor:
        return lens.view(data.sample(B), step)

    def d_grads(step: int) -> None:
        """D's loss on a fresh real batch and fresh fakes; gradients into D."""
        with torch.no_grad():
            fake = G(noise(B))
        last["D/real"], last["D/fake"] = D(real(step)), D(fake)
        last["loss/D"] = d_loss(loss, last["D/real"], last["D/fake"])
        opt_d.zero_grad(set_to_none=True)
        last["loss/D"].backward()

    def g_grads(step: int) -> None:
        """G's loss against D (or unrolled D^K) on fresh noise; gradients into G."""
        critic = unroll.critic(G, lambda: real(step), lambda: noise(B))
        last["loss/G"] = loss.g(critic(G(noise(B))))
        opt_g.zero_grad(set_to_none=True)
        last["loss/G"].backward(inputs=g_params)

    def joint_grads(step: int) -> None:
        """One minibatch; both players' gradients at the current point."""
        fake = G(noise(B))
        last["D/real"], last["D/fake"] = D(real(step)), D(fake)
        last["loss/D"] = d_loss(loss, last["D/real"], last["D/fake"])
        critic = unroll.critic(G, lambda: real(step), lambda: noise(B))
        last["loss/G"] = loss.g(last["D/fake"] if critic is D else critic(fake))
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        last["loss/D"].backward(inputs=d_params, retain_graph=True)
        last["loss/G"].backward(inputs=g_params)

    log = RunLogger(run_dir, out.step, t.steps)
    log.message(f"metrics: {', '.join(evaluate.names)}" + "".join(f"; {k} {v:.4g}" for k, v in evaluate.info.items()))
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
                    stop.honoured()
                break

            # Algorithm 1: k discriminator steps, each on a fresh real batch and fresh noise, then
            # one generator step; or (simultaneous) the last D step and the G step from one batch.
            for _ in range(t.d_steps - simultaneous):
                update([opt_d], lambda: d_grads(step))
            if simultaneous:
                update([opt_d, opt_g], lambda: joint_grads(step))
            else:
                update([opt_g], lambda: g_grads(step))
            lens_stats = lens.update(step, D, lambda: data.sample(B))
            if lookahead:
                lookahead.after_iteration(step)
            if ema:
                ema.update_parameters(tracked)
            finite &= torch.isfinite(last["loss/D"] + last["loss/G"])
            out.step = step

            final = step == t.steps
            log_now = step % t.log_every == 0 or final
            sample_now = (t.sample_every and step % t.sample_every == 0) or final
            eval_now = (t.eval_every and step % t.eval_every == 0) or final
            ckpt_now = (t.ckpt_every and step % t.ckpt_every == 0) or final
            if (log_now or sample_now or eval_now or ckpt_now) and not healthy(step):
                break
            if log_now:
                stats = {**last, **lens_stats, "D/real": last["D/real"].mean(), "D/fake": last["D/fake"].mean(),
                         "grad_norm/D": get_total_norm([p.grad for p in d_params]),
                         "grad_norm/G": get_total_norm([p.grad for p in g_params])}
                log.scalars(step, {k: v.item() for k, v in stats.items()})
            with log.paused():
                if sample_now:
                    log.samples(step, data.show(evaluate.samples(evaluated(), data.preview)))
                    if lens.active(step) and isinstance(data, IndexedImages):  # real images beside L(them)
                        x = data.scale(data.gather(torch.arange(data.preview // 2, device=data.device)))
                        log.samples(step, data.show(torch.cat([x, lens.view(x, step)])), "lens")
                if eval_now:
                    metrics = evaluate.metrics(evaluated())
                    out.history.append({"step": step, **metrics})
                    log.metrics(step, metrics)
                if ckpt_now:
                    save()
        else:
            out.status = "completed"

        out.wall_time += time.perf_counter() - t0
        if out.status in ("completed", "diverged") and out.step > start:
            final_metrics = {k: v for k, v in out.history[-1].items() if k != "step"} if out.history else {}
            log.hparams(cfg, out.status, final_metrics)
