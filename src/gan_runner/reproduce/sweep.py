"""Running a claim's sweep and reading its jobs back: the preset's sweep points, a check of the
first job's data before any job starts, the child `gan-runner -m` that runs them (any launcher), the
log of reproduce invocations, and the jobs' records. A sweep directory's small records (each job's
results.json, .hydra/ and the tail of its log, the sweep's multirun.yaml and reproduce.json) are
enough to continue it elsewhere (finished jobs are kept, the rest start) and to report on it.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from .. import CONF_DIR
from ..errors import ConfigError
from ..files import write_json, write_text
from ..run_dir import (
    CANCELLED,
    KEPT,
    RUNNING,
    RunDir,
    last_lines,
    override_key,
    quoted,
    read_results,
)

LOG = "reproduce.json"  # in the sweep directory: each invocation's command, scale and times
TAIL = "log.tail"  # in each job's directory: the last lines of its log, kept with its records


def presets(config_dir: str | None = None) -> list[str]:
    """The experiment presets gan-runner ships, and those of a user's config directory."""
    dirs = [
        Path(CONF_DIR) / "experiment",
        *([Path(config_dir) / "experiment"] if config_dir else []),
    ]
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


def claim_of(name: str, config_dir: str | None = None) -> dict:
    """The preset's claim, as plain data; ConfigError when there is no such preset or it has none."""
    from omegaconf import OmegaConf

    from ..config import compose

    known = presets(config_dir)
    if name not in known:
        raise ConfigError(
            f"No experiment preset '{name}'. The presets: {', '.join(known) or 'none'}."
        )
    cfg = compose([f"+experiment={name}"], config_dir)
    if cfg.get("claim") is None:
        raise ConfigError(
            f"The preset '{name}' states no claim (no `claim:` node): run it with gan-runner -m "
            f"+experiment={name} instead."
        )
    return OmegaConf.to_container(cfg.claim, resolve=True)


def sweep_dir(name: str, scale: str, overrides: list[str]) -> Path:
    """Where a reproduction's jobs go: hydra.sweep.dir when given, else outputs/reproduce/NAME/SCALE."""
    for o in overrides:
        if o.startswith("hydra.sweep.dir="):
            return Path(o.split("=", 1)[1]).expanduser()
    return Path("outputs") / "reproduce" / name / scale


def gan_runner() -> str:
    """The gan-runner command beside this one (launchers restart their jobs with the same script)."""
    import shutil

    for candidate in (
        Path(sys.argv[0]).with_name("gan-runner"),
        Path(sys.executable).with_name("gan-runner"),
    ):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("gan-runner")
    if found is None:
        raise ConfigError(
            "The gan-runner command is not installed beside gan-runner-reproduce nor on PATH."
        )
    return found


def sweep_points(
    name: str, overrides: list[str], config_dir: str | None = None
) -> dict[str, list[str]]:
    """The preset's sweep under `overrides` (a scale's and the user's; later ones win): each key and
    its values. Hydra's own settings (hydra.*, hydra/...) are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ..config import compose

    sweep = compose([f"+experiment={name}"], config_dir, hydra=True).hydra.sweeper.params or {}
    points = {}
    for o in OverridesParser.create().parse_overrides(
        [f"{k}={v}" for k, v in sweep.items()] + list(overrides)
    ):
        if not o.get_key_element().lstrip("+~").startswith("hydra"):
            points[o.get_key_element()] = (
                list(o.sweep_string_iterator())
                if o.is_sweep_override()
                else [o.get_value_element_as_str()]
            )
    return points


def precheck(name: str, overrides: list[str], config_dir: str | None) -> None:
    """The sweep's first job, composed and validated, finds its data and metric weights: a missing
    dataset stops the reproduction before any job starts (ConfigError, naming where the files go)."""
    import torch

    from ..config import compose, validate
    from ..game import dataset
    from ..preflight import check_metrics, check_weights

    first = [f"{k}={v[0]}" for k, v in sweep_points(name, overrides, config_dir).items()]
    cfg = compose([f"+experiment={name}", *first], config_dir)
    validate(cfg)
    check_metrics(cfg)
    check_weights(cfg)
    dataset(cfg, torch.device("cpu"))


def run(
    name: str,
    claim: dict,
    scale: str,
    overrides: list[str],
    out: Path,
    config_dir: str | None,
    command: str,
) -> int:
    """The sweep, in a child `gan-runner -m` of its own session; its exit status. Ctrl-C, SIGTERM and
    SIGHUP reach it through this process, SIGHUP as SIGTERM (what gan-runner stops on): its jobs save
    and stop, and the report covers what they did. Each invocation is logged in the sweep directory."""
    if claim["scales"][scale].get("digits"):
        from ..data.digits import write

        write(claim["scales"][scale]["digits"])
    precheck(name, [*claim["scales"][scale]["overrides"], *overrides], config_dir)
    # the job directories named by what varies: the keys of one value left out of their names
    fixed = [
        "experiment",
        *(
            k.lstrip("+~")
            for k, v in sweep_points(
                name, [*claim["scales"][scale]["overrides"], *overrides], config_dir
            ).items()
            if len(v) == 1
        ),
    ]
    argv = [
        gan_runner(),
        "-m",
        f"+experiment={name}",
        *claim["scales"][scale]["overrides"],
        *(o for o in overrides if not o.startswith("hydra.sweep.dir=")),
        f"hydra.sweep.dir={quoted(out.absolute())}",
        f"hydra.job.config.override_dirname.exclude_keys=[{','.join(fixed)}]",
        *(["--config-dir", config_dir] if config_dir else []),
    ]
    child = subprocess.Popen(argv, start_new_session=True)

    def forward(sig: int, frame) -> None:
        child.send_signal(signal.SIGTERM if sig == signal.SIGHUP else sig)

    handlers = {
        sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    started = time.time()
    try:
        return child.wait()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if out.is_dir():
            write_json(
                out / LOG,
                [
                    *invocations(out),
                    {
                        "command": command,
                        "scale": scale,
                        "started": started,
                        "ended": time.time(),
                        "exit": child.returncode,
                    },
                ],
            )
            keep_tails(out)


def keep_tails(out: Path, n: int = 40) -> None:
    """Each job's log tail (its launcher.log, else its train.log) as log.tail beside its results.json:
    with .hydra/ and results.json, the records a reproduction is shared and continued from (the
    checkpoints, event files and full logs are not kept)."""
    for results in out.glob("*/results.json"):
        run = RunDir(results.parent)
        log = run.launcher_log if run.launcher_log.exists() else run.log
        if log.exists() and KEPT not in last_lines(
            log, 1
        ):  # a kept job's log says only that: its tail stands
            write_text(run.path / TAIL, last_lines(log, n) + "\n")


def invocations(out: Path) -> list[dict]:
    """The reproduce commands that ran the sweep in `out` (none when it was run otherwise)."""
    try:
        log = json.loads((out / LOG).read_text())
        return (
            [i for i in log if isinstance(i, dict) and {"started", "ended"} <= i.keys()]
            if isinstance(log, list)
            else []
        )
    except (OSError, ValueError):
        return []


def sweep_values(out: Path) -> dict[str, set[str]] | None:
    """The keys the directory's latest sweep sets (its multirun.yaml: the sweeper's params and the
    task's overrides), each with the values its jobs take; None when that cannot be read."""
    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        h = yaml.safe_load((out / "multirun.yaml").read_text())["hydra"]
        params = [f"{k}={v}" for k, v in (h["sweeper"].get("params") or {}).items()] + list(
            h["overrides"]["task"]
        )
        return {
            override_key(o.input_line): set(o.sweep_string_iterator())
            if o.is_sweep_override()
            else {"", "null"}
            if o.is_delete()
            else {o.get_value_element_as_str()}  # a job records ~k as ~k=null
            for o in OverridesParser.create().parse_overrides(params)
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, HydraException):
        return None


def records(out: Path, finished: bool = False) -> list[dict]:
    """The jobs of the sweep in `out` (summary.runs), with their results.json's history and times. Only
    the latest sweep's jobs count (a directory left by an earlier sweep of other values is not pooled in). A
    job is "running" until the sweep has `finished` when it has no results.json, or an older one than
    its log (an earlier attempt's)."""
    from ..summary import runs

    values, newest = sweep_values(out), {}
    for r in runs([out], finished=finished):
        if values is not None and not (
            r["overrides"].keys() == values.keys()
            and all(v in values[k] for k, v in r["overrides"].items())
        ):
            continue  # an earlier sweep's job
        # one run per point of the sweep: the newest directory of its overrides (a sweep run again)
        key = tuple(sorted(r["overrides"].items())) if values is not None else r["dir"]
        if (
            key not in newest
            or Path(r["dir"]).stat().st_mtime > Path(newest[key]["dir"]).stat().st_mtime
        ):
            newest[key] = r
    found = list(newest.values())
    if values is not None and all(
        values.values()
    ):  # the grid's points no job has started yet (records of a
        import itertools  # sweep still under way, committed elsewhere): not finished

        names = sorted(values)
        for point in itertools.product(*(sorted(values[k]) for k in names)):
            if tuple(zip(names, point)) not in newest:
                newest[tuple(zip(names, point))] = {}
                found.append(
                    {
                        "dir": str(out / "(not started)"),
                        "overrides": dict(zip(names, point)),
                        "choices": {},
                        "config": {},
                        "status": CANCELLED,
                        "step": None,
                        "wall_time_s": None,
                        "final": {},
                        "best": {},
                        "note": "not started",
                    }
                )
    for r in found:
        run = RunDir(Path(r["dir"]))
        results = read_results(run) or {}
        if r["status"] == CANCELLED and not results:
            r.update(history=[], started=None, ended=None, host={}, device={}, info={})
            continue
        if (
            not finished
            and results
            and run.log.exists()
            and run.log.stat().st_mtime > (results.get("ended") or 0) + 2
            and KEPT not in last_lines(run.log, 1)
        ):  # a job a continued sweep kept is not running
            r["status"] = RUNNING
        r.update(
            history=results.get("history", []),
            started=results.get("first_started", results.get("started")),
            ended=results.get("ended"),
            host=results.get("host", {}),
            device=results.get("device", {}),
            info=results.get("info", {}),
        )
    return found
