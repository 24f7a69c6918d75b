"""The run directory: where everything a run leaves behind lives, its results.json, and the one
vocabulary of statuses a run (or a sweep's job) ends with. No torch here: the launchers and the
sweep summary read run directories without it.

    <run>/.hydra/{config,hydra,overrides}.yaml   Hydra's record of the composed run
    <run>/checkpoints/last.pt                     everything needed to continue bit for bit
    <run>/checkpoints/best.pt                     the same, at the best evaluation (metrics.best)
    <run>/results.json                            how the run ended (write_results)
    <run>/samples/, train.log, events.out.*       what it showed on the way
    <run>/eval.json                               gan-runner-eval's metrics
    <run>/launcher.log                            a gpu_pool job's console
"""

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import UserError, first_line
from .files import write_json, write_text

# A run ends completed, diverged (a result, not a failure), interrupted (saved; it resumes) or
# failed. A sweep's job may also be cancelled (never started) or, while the sweep runs, running.
COMPLETED, DIVERGED, INTERRUPTED, FAILED, CANCELLED, RUNNING = STATUSES = (
    "completed",
    "diverged",
    "interrupted",
    "failed",
    "cancelled",
    "running",
)
UNFINISHED = (INTERRUPTED, FAILED, CANCELLED)  # a sweep with one of these exits 1


def override_key(override: str) -> str:
    """The key a recorded (or command-line) override sets: `+a.b=1` -> `a.b`."""
    return override.split("=", 1)[0].lstrip("+~")


def job_dirname(overrides: str, num: int | str) -> str:
    """`${job_dirname:${hydra.job.override_dirname},${hydra.job.num}}` (hydra.sweep.subdir; a single
    run's hydra.run.dir puts its time where the number goes): a sweep's
    job directory, its number and its overrides, e.g. `3_loss=lsgan,trainer.seed=0` (TensorBoard's
    name for the run): the number keeps two jobs of the same overrides apart (a sampler may ask for
    a point twice). A '/' (a path, a nested group) becomes '.'; a name too long for a file keeps its
    start and a hash of the whole."""
    name = overrides.replace("/", ".")
    if len(name.encode()) > 200:  # a file name holds 255 bytes
        name = f"{name.encode()[:150].decode(errors='ignore')}...{hashlib.sha1(overrides.encode()).hexdigest()[:10]}"
    return f"{num}_{name}" if name else str(num)


def quoted(value: Path | str) -> str:
    """A path as a quoted value in Hydra's override grammar (spaces, quotes, backslashes, non-ASCII)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def config_dirs(hydra: DictConfig) -> list[str]:
    """The --config-dir a run was composed with: Hydra records it among its config sources."""
    return [s.path for s in hydra.runtime.get("config_sources", []) if s.provider == "command-line"]


class RunDir:
    """The paths of one run directory."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.hydra = self.path / ".hydra"
        self.overrides = self.hydra / "overrides.yaml"
        self.config = self.hydra / "config.yaml"
        self.hydra_yaml = self.hydra / "hydra.yaml"
        self.checkpoint = self.path / "checkpoints" / "last.pt"
        self.best_checkpoint = self.path / "checkpoints" / "best.pt"
        self.results = self.path / "results.json"
        self.previous_results = self.path / "results.previous.json"
        self.samples = self.path / "samples"
        self.eval = self.path / "eval.json"
        self.launcher_log = self.path / "launcher.log"
        self.log = self.path / "train.log"  # Hydra's job log (hydra.job.name: train)

    def __str__(self) -> str:
        return str(self.path)


def write_results(
    run: RunDir,
    status: str,
    *,
    note: str = "",
    overrides: list[str],
    step: int | None = None,
    steps: int | None = None,
    wall_time: float | None = None,
    history: list[dict] = (),
    started: float | None = None,
    host: dict | None = None,
    device: dict | None = None,
    best: dict | None = None,
    info: dict | None = None,
    first_started: float | None = None,
    protocols: list[dict] = (),
) -> dict:
    """results.json: how the run ended, its final metrics, its best evaluation (`best`: the trainer's
    metrics.best, with `checkpoint` when checkpoints/best.pt holds it), the history, and this
    attempt's times and machine. An attempt that failed does not erase a finished one's report: that
    is kept as results.previous.json."""
    earlier = read_results(run)
    if (
        status == FAILED
        and earlier
        and earlier["status"] in (COMPLETED, DIVERGED)
        and earlier.get("step") is not None
    ):
        run.results.replace(run.previous_results)
    now = time.time()
    results = {
        "status": status,
        "step": step,
        "steps": steps,
        "wall_time_s": None if wall_time is None else round(wall_time, 3),
        "final": {k: v for k, v in history[-1].items() if k != "step"} if history else {},
        "best": best or {},
        "history": list(history),
        # how each value was measured (add_protocols): values of different protocols never pool
        "protocols": list(protocols),
        "overrides": list(overrides),
        "note": note,
        # this attempt (a resumed run has had several): when, where, on what; and the first attempt's start
        "started": started or now,
        "first_started": first_started or started or now,
        "ended": now,
        "host": host or {},
        "device": device or {},
        "info": info
        or {},  # what the metrics were prepared with, e.g. the classifier's test accuracy
    }
    write_json(run.results, results)
    return results


def add_protocols(protocols: list[dict], step: int, values: dict[str, dict]) -> None:
    """results.json's `protocols`: {"from_step": s, "values": {value: its protocol}} segments, a new
    one when an evaluation's protocols differ from the last's (metrics.* may change on resume)."""
    if not protocols or protocols[-1]["values"] != values:
        protocols.append({"from_step": step, "values": values})


def protocol_at(protocols: list[dict], step: int | None) -> dict[str, dict]:
    """{value: protocol} of the evaluation at `step` (None: the last); {} for a run recorded before
    protocols were."""
    segments = [p for p in protocols or [] if step is None or p["from_step"] <= step]
    return segments[-1]["values"] if segments else {}


KEPT = "kept:"  # the log line of a finished job a continued sweep keeps as it is


def read_results(run: RunDir) -> dict[str, Any] | None:
    """The run's results.json, or None when it has none yet. An unreadable one (truncated by a
    crash of the machine, garbled) reads as a failed run saying so."""
    if not run.results.exists():
        return None
    try:
        results = json.loads(run.results.read_text())
        if isinstance(results, dict) and "status" in results:
            return results
        problem = "not a gan-runner report"
    except (ValueError, UnicodeDecodeError, OSError) as e:
        problem = str(e)
    return {"status": FAILED, "step": None, "note": f"unreadable {run.results.name} ({problem})"}


def load_yaml(path: Path, what: str) -> DictConfig | ListConfig:
    """One of a run's YAML records, or bad input naming the file."""
    try:
        return OmegaConf.load(path)
    except Exception as e:  # missing, truncated, garbled: YAML's and OmegaConf's errors
        first = first_line(e)
        raise UserError(f"Cannot {what}: {path} is missing or unreadable ({first}).") from None


def read_config(run: RunDir, what: str) -> DictConfig:
    """The run's composed config (.hydra/config.yaml), resolved, with the model and dataset a sample
    needs. A run directory is input, not code: check its targets (config.rules.check_targets) before
    instantiating anything it names."""
    cfg = load_yaml(run.config, what)
    try:
        resolved = OmegaConf.create(
            OmegaConf.to_container(cfg, resolve=True)
        )  # what instantiation would see
        if not (
            isinstance(resolved.get("model"), DictConfig)
            and isinstance(resolved.model.get("z_dim"), int)
            and isinstance(resolved.get("dataset"), DictConfig)
        ):
            raise ValueError("no model with a z_dim, or no dataset")
    except Exception as e:  # a list, a missing key, an interpolation that does not resolve
        raise UserError(
            f"Cannot {what}: {run.config} is not a gan-runner run's config ({e})."
        ) from None
    return resolved


def report(run: RunDir, status: str, note: str, overrides: list[str]) -> None:
    """results.json for a job whose run could not report: one that failed before it could (a refused
    job among them) or one the sweep never started ("cancelled"). A run's own report already there
    (an earlier attempt's) is kept as results.previous.json: nothing a run reported is lost; a
    finished one stands when the sweep did not start its job again."""
    earlier = read_results(run)
    if status == CANCELLED and earlier is not None and earlier["status"] in (COMPLETED, DIVERGED):
        return  # a finished job a continued sweep did not get to start again: it is still finished
    if (
        earlier is not None and earlier.get("step") is not None
    ):  # reports like this one have no step
        run.results.replace(run.previous_results)
    write_results(run, status, note=note, overrides=overrides)


def last_lines(log_file: Path, n: int = 5, width: int = 300) -> str:
    """What a job said last: the last `n` non-blank lines of its console (gpu_pool keeps each job's in
    its launcher.log), each cut to `width` characters, read from the end of a log of any length."""
    if not log_file.exists():
        return ""
    with open(log_file, "rb") as f:
        start = max(0, f.seek(0, 2) - 4 * n * width)
        f.seek(start)
        lines = f.read().decode(errors="replace").splitlines()
    if start and len(lines) > 1:
        lines = lines[1:]  # the first was cut in two
    lines = [line.rstrip() for line in lines if line.strip()][-n:]
    return "\n".join(line if len(line) <= width else line[: width - 3] + "..." for line in lines)


def record(run: RunDir, task: DictConfig, hydra: DictConfig) -> None:
    """Hydra's record of the composed run (.hydra/config.yaml, hydra.yaml, overrides.yaml), written
    by the run itself once its pre-flight has passed (conf/train.yaml turns Hydra's own writing
    off), so that a job refused in a directory holding another run leaves that run's record alone."""
    for path, node in (
        (run.config, task),
        (run.hydra_yaml, OmegaConf.create({"hydra": hydra})),
        (run.overrides, OmegaConf.create(list(hydra.overrides.task))),
    ):
        # resolved: the values the run used, which the tables and the summary read as plain YAML
        # (a derived setting, ${order_for:...}, would read as its formula)
        try:
            text = OmegaConf.to_yaml(node, resolve=path == run.config)
        except OmegaConfBaseException:  # a value that cannot resolve: the job's checks say which
            text = OmegaConf.to_yaml(node)
        write_text(path, text)


def checkpoint_path(run: RunDir, best: bool = False) -> Path:
    """The checkpoint gan-runner-sample and -eval read: the last, or the best evaluation's (--best)."""
    path = run.best_checkpoint if best else run.checkpoint
    if not run.config.is_file() or not run.checkpoint.is_file():
        raise UserError(f"{run} holds no trained run: expected {run.config} and {run.checkpoint}.")
    if not path.is_file():
        raise UserError(
            f"{run} has no {path.relative_to(run.path)}: a run saves it at each evaluation that "
            "improves on its best (metrics.best: the ranked metrics, e.g. modes, fid_*); this one "
            "had none ranked, or no evaluation yet. Without --best: its last checkpoint."
        )
    return path


def add_evaluation(
    run: RunDir,
    step: int,
    metrics: dict,
    overrides: list[str],
    checkpoint: Path,
    protocol: dict[str, dict],
) -> dict:
    """eval.json: the metrics of the checkpoint's step (an evaluation of other metrics of the same
    step adds to them), each value's protocol, and every evaluation, with its overrides and checkpoint. An unreadable eval.json is kept
    aside as eval.unreadable.json, not lost."""
    earlier: dict = {}
    if run.eval.exists():
        try:
            earlier = json.loads(run.eval.read_text())
            if not (
                isinstance(earlier, dict)
                and isinstance(earlier.get("metrics", {}), dict)
                and isinstance(earlier.get("evaluations", []), list)
            ):
                raise ValueError("not gan-runner-eval's record")
        except (ValueError, UnicodeDecodeError):
            earlier = {}
            run.eval.replace(run.path / "eval.unreadable.json")
    same = earlier.get("step") == step
    report = {
        "step": step,
        "metrics": {**(earlier.get("metrics", {}) if same else {}), **metrics},
        "protocol": {**(earlier.get("protocol", {}) if same else {}), **protocol},
        "evaluations": [
            *earlier.get("evaluations", []),
            {
                "step": step,
                "metrics": metrics,
                "protocol": protocol,
                "overrides": list(overrides),
                "checkpoint": str(checkpoint.relative_to(run.path)),
                "time": time.time(),
            },
        ],
    }
    write_json(run.eval, report)
    return report


def remove_stale_temp_files(run: RunDir, older_than_s: float = 600) -> None:
    """The temporary files of atomic writes (files.atomic_write: `.<name>.XXXX` beside `<name>`) that
    a process killed mid-write left behind, up to a checkpoint's size each. Only old ones: a write
    takes seconds, and another process (gan-runner-eval) may be writing in the directory now."""
    for path in (
        run.checkpoint,
        run.best_checkpoint,
        run.results,
        run.eval,
        run.config,
        run.hydra_yaml,
        run.overrides,
    ):
        for stale in path.parent.glob(f".{path.name}.*"):
            try:
                if time.time() - stale.stat().st_mtime > older_than_s:
                    stale.unlink()
            except FileNotFoundError:  # its writer finished meanwhile
                pass
