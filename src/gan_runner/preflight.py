"""Everything checked before a run directory is created or rewritten (`check`, as far as its scope
goes): the config's schema and ranges, the metrics' fit to the data and their weights, that the run
fits in memory, the device, that every folder the run writes in is writable, that a checkpoint
already in the directory is readable and was trained with a compatible config, the dataset's files
and the model's fit to them. What needs no torch is checked before torch is imported, so most bad
input is refused in a second. A run's check builds its players and reads its checkpoint, once, for
the trainer (`Ready`).

A single run (and a gpu_pool job: its own process, in run mode) is checked by the `Preflight`
callback before Hydra creates its directory; a job of the basic or Slurm launcher is checked by the
task function before it records or trains anything, and fails alone.
"""

import copy
import math
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, open_dict

from .config.rules import dataset_kind, validate
from .console import say
from .errors import UserError
from .metrics import HIGHER_IS_BETTER, METRICS, NO_EMA, fitting, needed, resolve, unfit
from .objective import task_objective
from .run_dir import RunDir

# the value shapes of the datasets (before dataset.resolution), for the memory estimate
SHAPES = {
    "mixture": (2,),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "svhn": (3, 32, 32),
    "stacked_digits": (3, 28, 28),
}


SCOPES = ("config", "weights", "data", "run")  # each checks what the one before does, and more


@dataclass
class Ready:
    """What a run's pre-flight built and read, handed to the trainer: the players are built once
    (seeded: trainer.seed, then the data, then G and D, as training always draws them) and the
    checkpoint is read once."""

    device: Any  # torch.device
    data: Any
    G: Any
    D: Any
    saved: dict | None  # checkpoints/last.pt, read whole (resume.check_resumable), or None


def check(task: DictConfig, run: RunDir | None = None, scope: str = "run") -> Ready | None:
    """Refuse bad input before anything is written, as far as `scope` goes: the config (its schema,
    ranges and rules; the metrics' fit to the data), the metrics' weights, the dataset's files, or
    all a run needs (memory, device, writable folders, the checkpoint in `run`), building the players
    for it (`Ready`). What needs no torch comes first, so most bad input is refused in a second."""
    level = SCOPES.index(scope)
    validate(task)
    check_metrics(task)
    if scope == "run":
        check_memory(task)
        check_device_without_torch(task.trainer.device)
        _check_folders(task, run)
    if level == 0:
        return None

    import torch  # only now: what is refused above is refused quickly

    from .device import resolve_device
    from .game import dataset
    from .resume import check_resumable

    device = resolve_device(task.trainer.device) if scope == "run" else torch.device("cpu")
    saved = None
    if scope == "run":
        check_precision(task.trainer.precision, device)
        saved = check_resumable(run, task)
    # every missing file at once: the weights, then the data (the run's players are built on it)
    built: list[Ready] = []
    data = {
        "weights": lambda: None,
        "data": lambda: dataset(task, device),
        "run": lambda: built.append(build(task, run, device, saved)),
    }[scope]
    every(lambda: check_weights(task), data)
    return built[0] if built else None


def every(*checks) -> None:
    """Run each check; the bad input of all of them in one paragraph."""
    problems = []
    for check in checks:
        try:
            check()
        except UserError as e:
            problems.append(str(e))
    if len(problems) == 1:
        raise UserError(problems[0])
    if problems:
        raise UserError(
            f"{len(problems)} things stop this run: "
            + " ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        )


def build(task: DictConfig, run: RunDir, device=None, saved: dict | None = None) -> Ready:
    """The run's players, seeded, and its checkpoint (`saved`: check_resumable's; without it, read
    here unchecked, as a test's trainer.train(cfg, dir) does)."""
    import torch

    from .checkpoint import read
    from .device import cpu_threads, resolve_device
    from .game import compile_cache, players

    device = device or resolve_device(task.trainer.device)
    toy = dataset_kind(task.dataset) in ("mixture", "game")
    torch.set_num_threads(cpu_threads(task.trainer.get("threads"), toy))
    if saved is None and run.checkpoint.exists():
        saved = read(run.checkpoint)
    compile_cache(task.metrics.cache_dir)  # before torch first asks for it (an optimizer does)
    torch.manual_seed(task.trainer.seed)
    return Ready(device, *players(task, device), saved)


def _check_folders(task: DictConfig, run: RunDir) -> None:
    for path in (run.path, run.checkpoint.parent, run.samples):
        if path == run.path or path.exists():  # a folder of an earlier attempt may be read-only
            check_writable(path, "hydra.run.dir")
    if needed(task.metrics.names, dataset_kind(task.dataset)) & {"classifier", "inception"}:
        check_writable(Path(task.metrics.cache_dir).expanduser(), "metrics.cache_dir", keep=True)


# A run's Ready, from the Preflight callback (before Hydra makes the run's directory) to the task
# function, in the same process: a single run, a gpu_pool job (its own process, in run mode). A job
# of the basic or Slurm launcher is checked by the task itself.
_checked: dict[str, Ready] = {}


def ready(task: DictConfig, run: RunDir) -> Ready:
    """The run's pre-flight: the callback's, or done now."""
    handed = _checked.pop(os.path.abspath(run.path), None)
    _checked.clear()  # nothing else of it is held while the run trains
    return handed or check(task, run)


def check_metrics(task: DictConfig) -> None:
    kind = dataset_kind(task.dataset)
    bad = unfit(task.metrics.names, kind)
    if bad:
        raise UserError(
            f"metrics.names={sorted(resolve(task.metrics.names, kind))} does not fit this dataset "
            f"({kind} data): {', '.join(bad)} cannot be computed on it; it takes "
            f"{', '.join(fitting(kind))}. metrics.names=[auto] picks for you."
        )
    chosen, names = task.metrics.objective, resolve(task.metrics.names, kind)
    reported = [
        v + suffix
        for n in names
        for v in METRICS[n].values
        for suffix in (
            "",
            *((NO_EMA,) if task.trainer.ema and METRICS[n].needs != "players" else ()),
        )
    ]
    if chosen and chosen not in reported:
        raise UserError(
            f"metrics.objective={chosen} is not a value this run reports: it measures "
            f"{', '.join(reported) or 'nothing'} (metrics.names={names})."
        )
    m = task.metrics
    if any(METRICS[n].compute == "kid" for n in names) and m.n_samples < m.kid.subset_size:
        raise UserError(
            f"KID (metrics.names={names}) draws subsets of metrics.kid.subset_size="
            f"{m.kid.subset_size} samples from the {m.n_samples} generated (metrics.n_samples; "
            "with --images, the folder's images) and as many real ones: lower "
            "metrics.kid.subset_size, or measure more samples."
        )
    if any(METRICS[n].compute == "prc" for n in names) and m.n_samples <= max(m.prc.k, m.prc.dc_k):
        raise UserError(
            f"Precision/recall and density/coverage (metrics.names={names}) find each sample's "
            f"{max(m.prc.k, m.prc.dc_k)}-th nearest neighbour (metrics.prc.k, metrics.prc.dc_k) "
            f"among {m.n_samples} samples (metrics.n_samples; with --images, the folder's images): "
            "lower k, or measure more samples."
        )
    if task.metrics.fid.backend == "torchscript" and "is_inception" in resolve(
        task.metrics.names, kind
    ):
        raise UserError(
            f"metrics.names={sorted(resolve(task.metrics.names, kind))} asks for is_inception, the "
            "Inception score, which needs the network's class logits; metrics.fid.backend=torchscript "
            "gives its 2048 pool features only. Leave is_inception out (e.g. "
            "metrics.names=[fid_inception]), or use metrics.fid.backend=pytorch_fid."
        )


def check_direction(task: DictConfig, direction: str) -> None:
    """An optimising sweeper goes the way the task's objective (metrics.objective) is better."""
    name = task_objective(task)
    if name is None:
        raise UserError(
            f"hydra.sweeper optimises the runs' objective, but metrics.names={list(task.metrics.names)} "
            "measures nothing it could rank: pick metrics (metrics.names=[auto]) and metrics.objective."
        )
    want = "maximize" if HIGHER_IS_BETTER[name] else "minimize"
    if direction.lower() != want:
        raise UserError(
            f"hydra.sweeper.direction={direction}, but the objective {name} (metrics.objective) is "
            f"better {'higher' if want == 'maximize' else 'lower'}: the search would look for the worst "
            f"runs. Set hydra.sweeper.direction={want}, or another metrics.objective."
        )


def check_weights(task: DictConfig) -> None:
    """The Inception metrics' weights are there and are the FID Inception's; a classifier weights
    file is there and is the classifier metrics' MLP."""
    needs = needed(task.metrics.names, dataset_kind(task.dataset))
    if "inception" in needs:
        from .metrics.inception import check

        check(task.metrics.fid)
    if "classifier" in needs and task.metrics.classifier.weights_path:
        from .metrics.classifier import read_weights

        read_weights(task.metrics.classifier.weights_path)


def check_memory(task: DictConfig) -> None:
    """A run whose tensors cannot fit this machine is refused, naming the sizes, before it allocates.
    The estimate counts what scales with the config's sizes: the evaluation's fixed noise, a batch's
    noise and samples, and G's first and last layers (float32, activations and gradients twice)."""
    t, m, z = task.trainer, task.metrics, task.model.z_dim
    name = task.dataset.get("name", dataset_kind(task.dataset))
    shape = SHAPES.get(name, (task.dataset.get("channels", 3), 1, 1))
    if task.dataset.get("resolution") and len(shape) == 3:
        shape = (shape[0], task.dataset.resolution, task.dataset.resolution)
    sample = math.prod(shape)
    n_eval = max(
        m.n_samples,
        m.stacked_n_samples
        if "stacked_modes" in resolve(m.names, dataset_kind(task.dataset))
        else 0,
    )
    width = max(
        [*task.model.get("generator", {}).get("hidden", []), *task.model.get("g_hidden", []), 1]
    )
    floats = n_eval * z + 3 * t.batch_size * (z + sample + width) + 2 * (z * width + width * sample)
    need, have = 4 * floats, _memory_bytes()
    if need > have:
        raise UserError(
            f"This run needs at least {need / 2**30:.3g} GiB (trainer.batch_size={t.batch_size}, "
            f"model.z_dim={z}, metrics.n_samples={m.n_samples}, samples of {sample} values), more than "
            f"the {have / 2**30:.3g} GiB this machine has: make them smaller."
        )


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**62  # unknown: no limit from here


def check_precision(precision: str, device) -> None:
    """bf16 needs a GPU with bfloat16 arithmetic (compute capability 8, Ampere, or later); torch's
    is_bf16_supported() also says yes where it is only emulated."""
    import torch

    if precision != "bf16" or device.type != "cuda":
        return
    major, minor = torch.cuda.get_device_capability(device)
    if major < 8:
        raise UserError(
            f"trainer.precision=bf16, but {torch.cuda.get_device_name(device)} (compute capability "
            f"{major}.{minor}) has no bfloat16 arithmetic: use trainer.precision=fp16 (with its "
            "gradient scalers) or fp32."
        )


def check_device_without_torch(device: str) -> None:
    """Refuse a device this machine cannot have, before the slow import of torch (which
    resolve_device then checks in full: how many GPUs, which index)."""
    drivers = (
        "/proc/driver/nvidia",
        "/dev/nvidiactl",
        "/dev/kfd",
    )  # NVIDIA's, or AMD's (ROCm's torch says cuda)
    if (
        device.startswith("cuda")
        and platform.system() == "Linux"
        and not any(Path(d).exists() for d in drivers)
    ):
        raise UserError(
            f"trainer.device={device} but this machine has no GPU driver (none of {', '.join(drivers)}): "
            "no CUDA device here. Use trainer.device=cpu or trainer.device=auto."
        )
    if device == "mps" and platform.system() != "Darwin":
        raise UserError(
            f"trainer.device=mps is Apple's GPU, and this is {platform.system()}. Use trainer.device=cpu."
        )


def check_writable(path: Path, key: str, keep: bool = False) -> None:
    """Trying is the only honest test (root passes access()). What the test created goes again
    unless `keep`, so a run or sweep refused later leaves no empty directory behind (Hydra creates
    it when it starts)."""
    created = next((p for p in [*reversed(path.parents), path] if not p.exists()), None)
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as e:
        raise UserError(
            f"Cannot write in {path}: {e.strerror}. Choose another with {key}=DIR"
            f"{'' if key.startswith('metrics') else ', or make it writable'}."
        ) from None
    finally:
        made = (
            [path, *path.parents][: len(path.parts) - len(created.parts) + 1]
            if created and not keep
            else []
        )
        for folder in made:
            try:
                folder.rmdir()  # only while empty: another process may have started a run there meanwhile
            except OSError:
                break


POINTS = 100  # a sweep's points checked before its first job: a grid's first, a sampler's ends


def check_points(config: DictConfig) -> None:
    """Every point of a sweep (its first POINTS: the grid's, or the ends of a sampler's intervals)
    composed and checked as its job's config would be, before any job starts, under any launcher:
    a bad value in the last point is not found after the first has trained."""
    from .config.compose import compose, grid_points, sweep_grid
    from .run_dir import config_dirs

    h = config.hydra
    params = [f"{k}={v}" for k, v in (h.sweeper.get("params") or {}).items()]
    grid = sweep_grid([*params, *h.overrides.task])
    grid = {k: v for k, v in grid.items() if not k.lstrip("+~").startswith("hydra")}
    points, total = grid_points(grid, POINTS)
    dirs = config_dirs(h)
    for i, point in enumerate(points):
        try:
            check(compose(point, dirs[0] if dirs else None, h.job.config_name), scope="config")
        except UserError as e:
            swept = [o for o in point if len(grid[o.split("=", 1)[0]]) > 1]
            raise UserError(
                f"The sweep's point {i + 1} of {total} ({', '.join(swept) or 'its only one'}) is "
                f"refused, before any job starts: {e}"
            ) from None


class Preflight(Callback):
    """Hydra turns a callback's exceptions into warnings, so a failure exits here, through
    SystemExit, with one message."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        task = copy.deepcopy(config)  # the job's config, as Hydra itself makes it in run_job
        with open_dict(task):
            del task["hydra"]
        run = RunDir(os.path.abspath(config.hydra.run.dir))  # as Hydra's runtime.output_dir
        choices = config.hydra.runtime.choices
        if choices.get("debug") and any(k.startswith("experiment") for k in choices):
            say(
                f"debug={choices.debug} does not shorten what an appended +experiment preset sets "
                f"itself: this run has trainer.steps={task.trainer.steps}, "
                f"trainer.batch_size={task.trainer.batch_size}, metrics.n_samples="
                f"{task.metrics.n_samples}; set them on the command line for a short run."
            )
        try:
            _checked[str(run.path)] = check(task, run)
        except UserError as e:
            sys.exit(str(e))
        except Exception:  # not bad input (e.g. out of memory): the task builds again, fails inside
            pass  # its try and reports it in results.json (Hydra would make it a warning here)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            check_points(config)
            check_writable(Path(config.hydra.sweep.dir).absolute(), "hydra.sweep.dir")
            direction = config.hydra.sweeper.get("direction")  # an optimising sweeper's (Optuna's)
            if direction is not None and not isinstance(
                direction, ListConfig
            ):  # one objective, as the task returns
                check_direction(config, str(getattr(direction, "name", direction)))
        except UserError as e:
            sys.exit(str(e))
