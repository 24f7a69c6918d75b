"""Command-line entry points: `gan-runner` (Hydra) and `gan-runner-sample`."""

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from .config import RESUMABLE, ConfigError, resume_conflicts, validate

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


class Preflight(Callback):
    """Everything that can be checked before Hydra creates (or, on resume, rewrites) the run
    directory: the config's schema and ranges, the device, that a checkpoint already there was
    trained with a compatible config, the dataset's files and the model's fit to them, and that the
    directory is writable. Hydra turns a callback's exceptions into warnings, so a failure exits
    here, through SystemExit, with one message. (A sweep's jobs are checked each in its own job.)"""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        run_dir = Path(config.hydra.run.dir).absolute()
        task = copy.deepcopy(config)  # the job's config, as Hydra itself makes it in run_job
        with open_dict(task):
            del task["hydra"]
        try:
            validate(task)
            import torch  # here, not at the top: config errors and --help stay quick

            from .evaluation import check
            from .trainer import build, resolve_device

            check(task)
            resolve_device(task.trainer.device)
            _check_resumable(run_dir, task)
            build(task, torch.device("cpu"))  # the data is there, the model fits it (loads are cached)
            _check_writable(run_dir, "hydra.run.dir")  # last: it creates the directory
        except ConfigError as e:
            sys.exit(str(e))

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            _check_writable(Path(config.hydra.sweep.dir).absolute(), "hydra.sweep.dir")
        except ConfigError as e:
            sys.exit(str(e))


def _check_writable(path: Path, key: str) -> None:
    try:  # Hydra creates it next anyway; trying is the only honest test (root passes access())
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as e:
        raise ConfigError(f"Cannot write the run directory {path}: {e.strerror}. Choose another with {key}=DIR.")


def _check_resumable(run_dir: Path, task: DictConfig) -> None:
    ckpt = run_dir / "checkpoints" / "last.pt"
    if not ckpt.exists():
        return
    import torch

    meta = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)["meta"]  # mmap: tensors stay on disk
    conflicts = resume_conflicts(OmegaConf.create(meta["config"]), task)
    if conflicts:
        allowed = ", ".join(k + "*" if k.endswith(".") else k for k in RESUMABLE)
        raise ConfigError(f"{run_dir} holds a checkpoint trained with other settings ({'; '.join(conflicts[:4])}"
                          f"{'; ...' if len(conflicts) > 4 else ''}). Only these may change on resume: {allowed}. "
                          f"Continue it with gan-runner resume={run_dir}, or train in a new directory.")
    if meta["step"] > task.trainer.steps:
        raise ConfigError(f"{run_dir} is already at step {meta['step']}, beyond trainer.steps={task.trainer.steps}.")


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="train")
def _train(cfg: DictConfig) -> str:
    from . import trainer  # torch loads here, after Hydra has parsed the command line

    validate(cfg)
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    out = trainer.train(cfg, run_dir, overrides=list(hc.overrides.task))
    print(f"{out.status} at step {out.step}{': ' + out.note if out.note else ''}. Outputs in {run_dir}")
    return out.status


def train() -> None:
    """`gan-runner [overrides]`; `gan-runner resume=DIR [overrides]` continues the run in DIR."""
    try:
        sys.argv[1:] = resume_overrides(sys.argv[1:])
    except ConfigError as e:
        sys.exit(f"{e}")
    _train()


def _started_in(run_dir: Path) -> Path:
    """The directory a run was started from (Hydra records it), against which its relative paths,
    such as dataset.root, were resolved."""
    return Path(OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra.runtime.cwd)


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def run_overrides(run_dir: Path, args: list[str], what: str) -> list[str]:
    """DIR's recorded overrides, then `args` on top (the same key: the new value wins). The process
    moves to the directory the run was started from, so relative paths mean what they meant."""
    recorded = run_dir / ".hydra" / "overrides.yaml"
    if not recorded.is_file():
        problem = "does not exist" if not run_dir.exists() else f"is not a gan-runner run directory (no {recorded})"
        raise ConfigError(f"Cannot {what}: {run_dir} {problem}. Give a run directory such as outputs/<date>/<time>.")
    new_keys = {override_key(a) for a in args}
    kept = [o for o in OmegaConf.load(recorded) if override_key(o) not in new_keys]
    os.chdir(_started_in(run_dir.absolute()))
    return [*kept, *args]


def resume_overrides(args: list[str]) -> list[str]:
    """`resume=DIR`: DIR's own overrides and the new ones, with Hydra's run directory set to DIR,
    whose checkpoint the trainer then continues from."""
    resume = [a.split("=", 1)[1] for a in args if override_key(a) == "resume"]
    if not resume:
        return args
    run_dir = Path(resume[-1]).expanduser().absolute()
    return [*run_overrides(run_dir, args, "resume"), f"hydra.run.dir='{run_dir}'"]


def _compose(overrides: list[str], whole_run: bool = True) -> DictConfig:
    """The config the overrides make, checked as a run's (whole_run) or only key by key."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            cfg = compose("train", overrides=overrides)
    except HydraException as e:
        raise ConfigError(str(e)) from None
    if whole_run:
        validate(cfg)
    return cfg


def classifier() -> None:
    """`gan-runner-classifier dataset=... [overrides]`: train (or find in the cache) the classifier
    the metrics use for a dataset, and print its test accuracy."""
    try:
        cfg = _compose(sys.argv[1:], whole_run=False)  # the model does not matter here

        from .metrics.classifier import load_or_train
        from .trainer import resolve_device

        c = cfg.metrics.classifier
        _, acc, key = load_or_train(cfg.dataset, Path(cfg.metrics.cache_dir).expanduser(),
                                    resolve_device(cfg.trainer.device), c.epochs, c.batch_size, c.lr)
    except ConfigError as e:
        sys.exit(str(e))
    print(f"{key['dataset']} classifier: test accuracy {100 * acc:.2f}% (cache: {cfg.metrics.cache_dir})")


def evaluate() -> None:
    """`gan-runner-eval RUN_DIR [overrides, e.g. metrics.names=[parzen]]`: the metrics of a trained
    run's generator (its EMA or slow weights when it had them), printed and written to RUN_DIR/eval.json."""
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(evaluate.__doc__)
    run_dir = Path(sys.argv[1]).expanduser().absolute()
    try:
        cfg = _compose(run_overrides(run_dir, sys.argv[2:], "evaluate"))
        import torch

        from .checkpoint import write_json
        from .evaluation import Evaluator, check
        from .trainer import build, resolve_device

        check(cfg)
        ckpt = run_dir / "checkpoints" / "last.pt"
        if not ckpt.is_file():
            raise ConfigError(f"Cannot evaluate: {run_dir} has no checkpoint ({ckpt}).")
        device = resolve_device(cfg.trainer.device)
        data, G, _ = build(cfg, device)
        state = torch.load(ckpt, map_location=device, weights_only=True)
        G.load_state_dict(state["meta"]["evaluated_G"])
        metrics = Evaluator(cfg, data, device).metrics(G)
    except ConfigError as e:
        sys.exit(str(e))
    report = {"step": state["meta"]["step"], "metrics": metrics, "overrides": sys.argv[2:]}
    write_json(run_dir / "eval.json", report)
    print(json.dumps(report, indent=2))


def table() -> None:
    """`gan-runner-table DIR [DIR...] [--rows KEY] [--cols KEY] [--metric NAME] [--format md|csv|latex]
    [--plot FILE.png]`: writes summary.csv and summary.md in each DIR (one row per run); with --metric,
    a table of its final value, mean ± std over the runs of each cell (seeds and every key not on an
    axis pooled), with the cell's diverged/failed counts, and with --plot its curves over training."""
    p = argparse.ArgumentParser(prog="gan-runner-table", description=table.__doc__)
    p.add_argument("dirs", type=Path, nargs="+", help="sweep (or run) directories")
    p.add_argument("--rows", help="a config key or group, e.g. loss or optimizer.d.lr")
    p.add_argument("--cols", help="a config key or group, e.g. trainer.unroll_steps")
    p.add_argument("--metric", help="a final metric, e.g. kl or fid_classifier")
    p.add_argument("--format", choices=("md", "csv", "latex"), default="md")
    p.add_argument("--plot", type=Path, help="PNG of the metric against the step (needs --metric)")
    a = p.parse_args()
    from .summary import runs, summary, write_summary
    from .tables import curves, table as make_table

    missing = [d for d in a.dirs if not d.is_dir()]
    if missing:
        p.error(f"not a directory: {missing[0]}")
    records = runs(a.dirs)
    if not records:
        p.error(f"no run directories (with .hydra/overrides.yaml) under {', '.join(map(str, a.dirs))}")
    for d in a.dirs:
        if (d / "multirun.yaml").exists():  # a sweep's directory
            try:
                write_summary(d)
            except OSError as e:
                print(f"(summary not written in {d}: {e.strerror})", file=sys.stderr)
    if a.metric is None:
        if a.plot:
            p.error("--plot needs --metric")
        print(summary(records)[1])
        return
    print(make_table(records, a.rows, a.cols, a.metric, a.format), end="")
    if a.plot:
        try:
            print(f"wrote {curves(records, a.rows, a.cols, a.metric, a.plot)}")
        except ValueError as e:
            p.error(str(e))


def sample() -> None:
    """`gan-runner-sample RUN_DIR --num N --out FILE`: samples of a trained run's generator (its EMA,
    or Lookahead's slow weights, when the run used them)."""
    p = argparse.ArgumentParser(prog="gan-runner-sample", description=sample.__doc__)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--num", type=int, default=1000, help="how many samples (default 1000)")
    p.add_argument("--out", type=Path, required=True, help=".npy (raw samples) or .png (image grid / 2-D scatter)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    ckpt, cfg_file = a.run_dir / "checkpoints" / "last.pt", a.run_dir / ".hydra" / "config.yaml"
    if not ckpt.is_file() or not cfg_file.is_file():
        p.error(f"{a.run_dir} holds no trained run: expected {cfg_file} and {ckpt}.")
    if a.out.suffix not in (".npy", ".png"):
        p.error(f"--out must end in .npy or .png, not '{a.out.suffix}'.")
    if a.num < 1:
        p.error("--num must be at least 1.")

    import numpy as np
    import torch
    from hydra.utils import instantiate
    from PIL import Image

    from .data.images import Images
    from .trainer import resolve_device

    cfg = OmegaConf.load(cfg_file)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    shape = tuple(state["meta"]["data_shape"])
    try:
        device = resolve_device(a.device)
    except (ConfigError, RuntimeError) as e:  # RuntimeError: a device string torch cannot parse
        p.error(str(e))
    g, _ = instantiate(cfg.model, data_shape=shape)
    g.load_state_dict(state["meta"]["evaluated_G"])  # the EMA or Lookahead's slow weights when on
    g.to(device).eval()
    z = torch.randn(a.num, cfg.model.z_dim, generator=torch.Generator().manual_seed(a.seed))
    with torch.no_grad():
        x = torch.cat([g(chunk.to(device)).cpu() for chunk in z.split(256)])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if a.out.suffix == ".npy":
        np.save(a.out, x.numpy())
    else:  # a picture needs the value range (images) or the modes (toy data), not the data itself
        data = Images(shape, cfg.dataset.range) if "range" in cfg.dataset else instantiate(cfg.dataset)
        Image.fromarray(data.show(x)).save(a.out)
    print(f"wrote {a.num} samples to {a.out}")
