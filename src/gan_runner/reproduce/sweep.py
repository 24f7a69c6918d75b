"""Running a claim's sweep and reading its jobs back: the preset's sweep points, a check of the
first job's data before any job starts, the child `gan-runner -m` that runs them (any launcher), the
log of reproduce invocations, and the jobs' records. A sweep directory's small records (each job's
results.json, .hydra/ and the tail of its log, the sweep's multirun.yaml and reproduce.json) are
enough to continue it elsewhere (finished jobs are kept, the rest start) and to report on it.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import UserError
from ..files import write_json, write_text
from ..run_dir import (
    KEPT,
    RunDir,
    last_lines,
    quoted,
)
from .records import LOG, invocations

TAIL = "log.tail"  # in each job's directory: the last lines of its log, kept with its records


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
        raise UserError(
            "The gan-runner command is not installed beside gan-runner-reproduce nor on PATH."
        )
    return found


def sweep_points(
    name: str, overrides: list[str], config_dir: str | None = None
) -> dict[str, list[str]]:
    """The preset's sweep under `overrides` (a scale's and the user's; later ones win): each key and
    its values. Hydra's own settings (hydra.*, hydra/...) are left out."""
    from ..config.compose import compose, sweep_grid

    sweep = compose([f"+experiment={name}"], config_dir, hydra=True).hydra.sweeper.params or {}
    grid = sweep_grid([f"{k}={v}" for k, v in sweep.items()] + list(overrides))
    return {k: v for k, v in grid.items() if not k.lstrip("+~").startswith("hydra")}


def precheck(name: str, overrides: list[str], config_dir: str | None) -> None:
    """The sweep's first job, composed and checked, finds its data and metric weights: a missing
    dataset stops the reproduction before any job starts (UserError, naming where the files go)."""
    from ..config.compose import compose, grid_points
    from ..preflight import check

    first = grid_points(sweep_points(name, overrides, config_dir), 1)[0][0]
    check(compose([f"+experiment={name}", *first], config_dir), scope="data")


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
