"""Everything checked before a run directory is created or rewritten: the config's schema and
ranges, the metrics' fit to the data and their weights, the device, that a checkpoint already in
the directory was trained with a compatible config, the dataset's files and the model's fit to
them, and that the directory is writable.

A single run is checked by the `Preflight` callback before Hydra creates its directory; a sweep's
job (any launcher: in this process, in a gpu_pool process, on a Slurm node) is checked by the task
function before it records or trains anything, and fails alone.
"""

import copy
import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

from .config import validate
from .errors import ConfigError
from .run_dir import RunDir


def check_run(task: DictConfig, run: RunDir) -> None:
    validate(task)
    import torch  # here, not at the top: config errors and --help stay quick

    from .device import resolve_device
    from .evaluation import check
    from .game import players
    from .resume import check_resumable

    check(task)
    resolve_device(task.trainer.device)
    check_resumable(run, task)
    players(task, torch.device("cpu"))  # the data is there, the model fits it (loads are cached)
    check_writable(run.path, "hydra.run.dir")  # last: it creates the directory


def check_writable(path: Path, key: str) -> None:
    """Trying is the only honest test (root passes access()); what the test created goes again, so a
    run or sweep refused later leaves no empty directory behind (Hydra creates it when it starts)."""
    created = next((p for p in [*reversed(path.parents), path] if not p.exists()), None)
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as e:
        raise ConfigError(f"Cannot write the run directory {path}: {e.strerror}. Choose another with {key}=DIR.")
    finally:
        for made in [path, *path.parents][:len(path.parts) - len(created.parts) + 1] if created else []:
            try:
                made.rmdir()  # only while empty: another process may have started a run there meanwhile
            except OSError:
                break


class Preflight(Callback):
    """Hydra turns a callback's exceptions into warnings, so a failure exits here, through
    SystemExit, with one message."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        task = copy.deepcopy(config)  # the job's config, as Hydra itself makes it in run_job
        with open_dict(task):
            del task["hydra"]
        try:
            check_run(task, RunDir(Path(config.hydra.run.dir).absolute()))
        except ConfigError as e:
            sys.exit(str(e))

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            check_writable(Path(config.hydra.sweep.dir).absolute(), "hydra.sweep.dir")
        except ConfigError as e:
            sys.exit(str(e))
