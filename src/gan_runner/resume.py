"""Continuing a run: what may change on resume, `resume=DIR`, and restoring a checkpoint.

A run directory that holds `checkpoints/last.pt` continues from it, bit for bit, whichever way the
run was started (a single run, `resume=DIR`, a sweep's job under any launcher, a requeued Slurm
job). The checkpoint records the config it was trained with; a run whose config differs beyond
RESUMABLE is refused before anything in the directory is touched.

`resume=DIR` replays the run's own recorded task overrides (never `hydra.*` settings or
`_target_`-like keys: a run directory is input, not code), with the config directory and config
name the run was composed from, from the directory it was started in (so a relative
`dataset.root` means the same files); new overrides win over recorded ones.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from . import CONF_DIR
from .config.compat import RENAMED, added, flatten, moved, renamed
from .config.compose import HYDRA_SWITCHES, HYDRA_VALUE_FLAGS, command_line, compose
from .errors import UserError, first_line
from .run_dir import (
    COMPLETED,
    DIVERGED,
    RunDir,
    config_dirs,
    load_yaml,
    override_key,
    quoted,
    read_results,
)

# What may differ when a run continues from its checkpoint: how long it trains, how often it
# reports, where and how fast it runs (compiled or not: the same arithmetic, up to rounding), how it
# is measured and judged (a preset's claim), and the learning rates (applied on resume).
RESUMABLE = (
    "trainer.steps",
    "trainer.log_every",
    "trainer.sample_every",
    "trainer.eval_every",
    "trainer.ckpt_every",
    "trainer.device",
    "trainer.compile",
    "trainer.threads",
    "metrics.",
    "resume",
    "claim.",
    "optimizer.g.lr",
    "optimizer.d.lr",
)
# keys a recorded override may not set: they choose code (instantiation) or Hydra's own behaviour
UNSAFE = ("_target_", "_args_", "_partial_", "_convert_", "_recursive_")


def resume_conflicts(saved: DictConfig, new: DictConfig) -> list[str]:
    """The settings in which `new` differs from the config a checkpoint was trained with, beyond RESUMABLE."""
    now = flatten(new)
    old = {
        **added(now),
        **{RENAMED.get(k, k): moved(v) for k, v in flatten(saved).items()},
    }
    return [
        f"{k}: {old.get(k, '<absent>')} -> {now.get(k, '<absent>')}"
        for k in sorted(old.keys() | now.keys())
        if old.get(k) != now.get(k) and not k.startswith(RESUMABLE)
    ]


def check_resumable(run: RunDir, task: DictConfig) -> dict | None:
    """The checkpoint in `run`, read whole (once: the trainer restores it), or None when there is
    none. Refuses one trained with other settings, or one further along than `trainer.steps`."""
    if not run.checkpoint.exists():
        return None
    from .checkpoint import read

    saved = read(
        run.checkpoint
    )  # all of it: a file that cannot be read is found now, not at resume
    meta = saved["meta"]
    conflicts = resume_conflicts(OmegaConf.create(meta["config"]), task)
    if conflicts:
        allowed = ", ".join(k + "*" if k.endswith(".") else k for k in RESUMABLE)
        raise UserError(
            f"{run} holds a checkpoint trained with other settings ({'; '.join(conflicts[:4])}"
            f"{'; ...' if len(conflicts) > 4 else ''}). Only these may change on resume: {allowed}. "
            f"Continue it with gan-runner resume={run}, or train in a new directory."
        )
    if meta["step"] > task.trainer.steps:
        raise UserError(
            f"{run} is already at step {meta['step']}, beyond trainer.steps={task.trainer.steps}."
        )
    return saved


def restore(run: RunDir, saved: dict | None, state: dict, cfg: DictConfig, device) -> dict | None:
    """Load a checkpoint `saved` (check_resumable's) into `state` (name -> object with
    load_state_dict) and apply the config's learning rates to the restored optimizers (they may
    change on resume). Returns the checkpoint's meta data, or None when there is none."""
    if saved is None:
        return None
    from . import checkpoint

    try:
        checkpoint.restore(saved, state, device)
    except (RuntimeError, KeyError, ValueError) as e:
        raise UserError(
            f"Cannot resume from {run.checkpoint}: it does not match this run's config "
            f"({first_line(e)}). Continue it with its own overrides "
            f"(gan-runner resume={run}) or start in a new directory."
        ) from None
    for opt, player in ((state["opt_g"], cfg.optimizer.g), (state["opt_d"], cfg.optimizer.d)):
        for group in opt.param_groups:
            group["lr"] = player.lr
    return saved["meta"]


# what a finished job may differ in and still stand: how it is judged and where it would run
NOT_TRAINING = (
    "claim.",
    "trainer.device",
    "trainer.compile",
    "trainer.threads",
    "metrics.cache_dir",
    "resume",
)


def finished(run: RunDir, task: DictConfig) -> bool:
    """Whether the run in `run` has finished what `task` asks: its results.json says it completed (or
    diverged) at task's last step, and its recorded config is task's but for NOT_TRAINING. A sweep
    run again keeps such a job as it is, from its records alone (results.json, .hydra/) or with its
    checkpoint."""
    results = read_results(run)
    if not (
        results
        and results["status"] in (COMPLETED, DIVERGED)
        and results.get("steps") == task.trainer.steps
        and (results["status"] == DIVERGED or results.get("step") == task.trainer.steps)
        and run.config.exists()
    ):
        return False
    try:
        recorded = flatten(
            OmegaConf.create(OmegaConf.to_container(OmegaConf.load(run.config), resolve=True))
        )
    except Exception:  # a garbled record: the job runs again
        return False
    now = flatten(OmegaConf.create(OmegaConf.to_container(task, resolve=True, enum_to_str=True)))
    recorded = {
        **added(now),
        **recorded,
    }  # keys added since: their old behaviour
    return all(
        recorded.get(k) == now.get(k)
        for k in recorded.keys() | now.keys()
        if not k.startswith(NOT_TRAINING)
    )


@dataclass
class Recorded:
    """What a run directory says about how the run was composed."""

    overrides: list[str]  # its own task overrides, safe ones only
    ignored: list[str]  # recorded lines that are not replayed
    config_dir: str | None  # a --config-dir it was started with
    config_name: str  # the primary config
    cwd: Path  # where it was started


def recorded(run: RunDir, what: str) -> Recorded:
    if not run.overrides.is_file():
        problem = (
            "does not exist"
            if not run.path.exists()
            else f"is not a gan-runner run directory (no {run.overrides})"
        )
        raise UserError(
            f"Cannot {what}: {run} {problem}. Give a run directory such as outputs/<date>/<time>."
        )
    overrides, hydra = load_yaml(run.overrides, what), load_yaml(run.hydra_yaml, what)
    try:
        lines = (
            [renamed(o) for o in overrides if isinstance(o, str)]
            if isinstance(overrides, ListConfig)
            else []
        )
        if not isinstance(overrides, ListConfig) or len(lines) != len(overrides):
            raise ValueError("its overrides are not all key=value lines")
        hydra = hydra.hydra
        dirs, name, cwd = (
            config_dirs(hydra),
            hydra.job.get("config_name", "train"),
            Path(hydra.runtime.cwd),
        )
    except Exception as e:  # the YAML parsed, but it is not Hydra's record of a run
        raise UserError(f"Cannot {what}: {run}'s record (.hydra/) is garbled ({e}).") from None
    safe = [
        o
        for o in lines
        if not override_key(o).startswith("hydra") and not any(u in o for u in UNSAFE)
    ]
    return Recorded(safe, [o for o in lines if o not in safe], dirs[0] if dirs else None, name, cwd)


def replay(run: RunDir, args: list[str], what: str) -> tuple[list[str], Recorded]:
    """The run's recorded overrides with `args` on top (the same key: the new value wins). Moves the
    process to the directory the run was started from, so relative paths mean what they meant."""
    rec = recorded(run, what)
    for line in rec.ignored:
        print(
            f"{what}: not replaying the recorded override {line!r} of {run}: only the task's own "
            "settings are replayed, never hydra.* or instantiation keys.",
            file=sys.stderr,
        )
    new_keys = {override_key(a) for a in args}
    if rec.cwd.is_dir():
        os.chdir(rec.cwd)
    else:  # moved to another machine, say: missing files then say where they were looked for
        print(
            f"{what}: {run} was started in {rec.cwd}, which does not exist here: its relative paths (e.g. "
            f"dataset.root) now mean paths under {Path.cwd()}.",
            file=sys.stderr,
        )
    return [*(o for o in rec.overrides if override_key(o) not in new_keys), *args], rec


# the defaults that follow the data (config/resolvers.FOR_DATA), which a later version may change: a
# run continues with its own unless the command line sets them
FOLLOW_DATA = (
    "trainer.steps",
    "trainer.batch_size",
    "trainer.sample_every",
    "trainer.eval_every",
    "trainer.ckpt_every",
)


def kept_defaults(run: RunDir, overrides: list[str]) -> list[str]:
    """`key=value` for each FOLLOW_DATA key the run had by default (its recorded config), not set by
    `overrides`."""
    try:
        recorded = OmegaConf.load(run.config)
    except Exception:  # no readable record: the checkpoint's check says what is wrong
        return []
    given = {override_key(o) for o in overrides}
    return [
        f"{key}={value}"
        for key in FOLLOW_DATA
        if key not in given and isinstance(value := OmegaConf.select(recorded, key), int)
    ]


def resume_argv(argv: list[str]) -> list[str]:
    """`gan-runner [flags] resume=DIR [overrides]`: Hydra's command line for continuing the run in DIR,
    with its recorded config dir and name unless the command gives its own; Hydra's flags are kept."""
    args = command_line(argv)
    resume = [o for o in args.overrides if override_key(o) == "resume"]
    if not resume:
        return argv
    run = RunDir(Path(resume[-1].split("=", 1)[1]).expanduser().absolute())
    config_dir = (
        os.path.abspath(args.config_dir) if args.config_dir else None
    )  # the user's, before replay's chdir
    given = [o for o in args.overrides if override_key(o) != "resume"] + [
        f"resume={quoted(run.path)}"
    ]
    overrides, rec = replay(run, given, "resume")
    overrides += kept_defaults(run, overrides)
    flags = [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in HYDRA_VALUE_FLAGS
        if getattr(args, name) is not None and name not in ("config_dir", "config_name")
    ]
    flags += [f"--{name.replace('_', '-')}" for name in HYDRA_SWITCHES if getattr(args, name)]
    name = args.config_name or rec.config_name
    if (
        not config_dir
    ):  # the files come from where the record says: checked before Hydra acts on them
        check_recorded_choice(run, rec.config_dir, name, overrides)
    if config_dir or rec.config_dir:
        flags.append(f"--config-dir={config_dir or rec.config_dir}")
    flags.append(f"--config-name={name}")
    return [*flags, *overrides, f"hydra.run.dir={quoted(run.path)}"]


def check_recorded_choice(
    run: RunDir, config_dir: str | None, name: str, overrides: list[str]
) -> None:
    """The config directory and name a run directory records choose presets, never code: composed
    (which runs nothing) with the replayed overrides, they must leave Hydra's own settings, the
    callbacks and logging that Hydra instantiates before any check, as gan-runner's configs set them.
    A user who trusts a directory that changes them names it: --config-dir DIR."""

    def hydra_settings(config_dir: str | None, name: str, replayed: list[str]) -> dict:
        cfg = compose(replayed, config_dir, name, hydra=True)
        return {
            key: OmegaConf.to_container(cfg.hydra[key])
            for key in ("callbacks", "job_logging", "hydra_logging")
        }

    try:
        recorded_settings = hydra_settings(config_dir, name, overrides)
    except UserError as e:
        raise UserError(
            f"Cannot resume {run}: its recorded config ({name} in {config_dir or CONF_DIR}) "
            f"does not compose ({first_line(e)})."
        ) from None
    if recorded_settings != hydra_settings(None, "train", []):
        raise UserError(
            f"Cannot resume {run} as recorded: its config ({name} in {config_dir or CONF_DIR}) "
            "changes Hydra's callbacks or logging, which would run before any check. If you trust "
            "that directory, name it: gan-runner --config-dir DIR resume=..."
        )
