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
from .config import ADDED, MOVED, RENAMED, compose, flatten
from .errors import ConfigError
from .run_dir import RunDir, config_dirs, load_yaml, override_key, quoted

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
    "metrics.",
    "resume",
    "claim.",
    "optimizer.g.lr",
    "optimizer.d.lr",
)
# Hydra's own command-line options (hydra._internal.utils.get_args_parser), rebuilt for resume
HYDRA_VALUE_FLAGS = (
    "cfg",
    "package",
    "config_path",
    "config_name",
    "config_dir",
    "info",
    "experimental_rerun",
)
HYDRA_SWITCHES = ("help", "hydra_help", "resolve", "run", "multirun", "shell_completion")
# keys a recorded override may not set: they choose code (instantiation) or Hydra's own behaviour
UNSAFE = ("_target_", "_args_", "_partial_", "_convert_", "_recursive_")


def resume_conflicts(saved: DictConfig, new: DictConfig) -> list[str]:
    """The settings in which `new` differs from the config a checkpoint was trained with, beyond RESUMABLE."""
    now = flatten(new)
    old = {
        **{k: v for k, v in ADDED.items() if k in now},
        **{RENAMED.get(k, k): _moved(v) for k, v in flatten(saved).items()},
    }
    return [
        f"{k}: {old.get(k, '<absent>')} -> {now.get(k, '<absent>')}"
        for k in sorted(old.keys() | now.keys())
        if old.get(k) != now.get(k) and not k.startswith(RESUMABLE)
    ]


def _moved(value):
    for old, new in MOVED.items():
        if isinstance(value, str) and (
            value == old or (old.endswith(".") and value.startswith(old))
        ):
            return new + value[len(old) :]
    return value


def check_resumable(run: RunDir, task: DictConfig) -> None:
    """Refuse a run whose directory holds a checkpoint trained with other settings, or one further
    along than `trainer.steps`."""
    if not run.checkpoint.exists():
        return
    from .checkpoint import read

    meta = read(run.checkpoint)[
        "meta"
    ]  # all of it: a file that cannot be read is found now, not at resume
    conflicts = resume_conflicts(OmegaConf.create(meta["config"]), task)
    if conflicts:
        allowed = ", ".join(k + "*" if k.endswith(".") else k for k in RESUMABLE)
        raise ConfigError(
            f"{run} holds a checkpoint trained with other settings ({'; '.join(conflicts[:4])}"
            f"{'; ...' if len(conflicts) > 4 else ''}). Only these may change on resume: {allowed}. "
            f"Continue it with gan-runner resume={run}, or train in a new directory."
        )
    if meta["step"] > task.trainer.steps:
        raise ConfigError(
            f"{run} is already at step {meta['step']}, beyond trainer.steps={task.trainer.steps}."
        )


def restore(run: RunDir, state: dict, cfg: DictConfig, device) -> dict | None:
    """Load `run`'s checkpoint into `state` (name -> object with load_state_dict) and apply the
    config's learning rates to the restored optimizers (they may change on resume). Returns the
    checkpoint's meta data, or None when there is no checkpoint to continue."""
    if not run.checkpoint.exists():
        return None
    from . import checkpoint

    try:
        meta = checkpoint.load(run.checkpoint, state, device)
    except (RuntimeError, KeyError, ValueError) as e:
        raise ConfigError(
            f"Cannot resume from {run.checkpoint}: it does not match this run's config "
            f"({str(e).splitlines()[0]}). Continue it with its own overrides "
            f"(gan-runner resume={run}) or start in a new directory."
        ) from None
    for opt, player in ((state["opt_g"], cfg.optimizer.g), (state["opt_d"], cfg.optimizer.d)):
        for group in opt.param_groups:
            group["lr"] = player.lr
    return meta


def _renamed(override: str) -> str:
    key = override_key(override)
    return override.replace(key, RENAMED[key], 1) if key in RENAMED else override


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
        raise ConfigError(
            f"Cannot {what}: {run} {problem}. Give a run directory such as outputs/<date>/<time>."
        )
    overrides, hydra = load_yaml(run.overrides, what), load_yaml(run.hydra_yaml, what)
    try:
        lines = (
            [_renamed(o) for o in overrides if isinstance(o, str)]
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
        raise ConfigError(f"Cannot {what}: {run}'s record (.hydra/) is garbled ({e}).") from None
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


def resume_argv(argv: list[str]) -> list[str]:
    """`gan-runner [flags] resume=DIR [overrides]`: Hydra's command line for continuing the run in DIR,
    with its recorded config dir and name unless the command gives its own; Hydra's flags are kept."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_intermixed_args(argv)  # flags anywhere, as a user types them
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
    except ConfigError as e:
        raise ConfigError(
            f"Cannot resume {run}: its recorded config ({name} in {config_dir or CONF_DIR}) "
            f"does not compose ({str(e).splitlines()[0]})."
        ) from None
    if recorded_settings != hydra_settings(None, "train", []):
        raise ConfigError(
            f"Cannot resume {run} as recorded: its config ({name} in {config_dir or CONF_DIR}) "
            "changes Hydra's callbacks or logging, which would run before any check. If you trust "
            "that directory, name it: gan-runner --config-dir DIR resume=..."
        )
