"""Compatibility with what earlier versions wrote: keys renamed, keys added and targets moved since
checkpoints and run records were first written, and the flat view (`a.b.c: value`) in which a
recorded config is compared with a new one (resume, a continued sweep, the run's hparams)."""

from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..run_dir import override_key

# Keys that were renamed: set, the old one is a range error naming the new one (on the command
# line, in a preset, anywhere); a recorded run's overrides and checkpoint config are read with the new.
RENAMED = {"trainer.update": "trainer.order"}
# Keys added since checkpoints were first written: a checkpoint's config without one was trained
# as this value of it.
ADDED = {
    "trainer.precision": "fp32",
    "trainer.ema_follows": "slow",
    "optimizer.lookahead.lazy": False,
    "model.noise": "normal",
    "model.d_init_gain": None,
    "lens.rec_reduction": "sum",
    "trainer.threads": None,
    "metrics.kid.subsets": 100,
    "metrics.kid.subset_size": 1000,
    "metrics.prc.k": 3,
    "metrics.prc.dc_k": 5,
}  # (trainer.compile may change)
# Targets that moved: a checkpoint's config is read with the new name. A key ending in "." moves a
# package (every target under it), any other key one target.
MOVED = {
    "gan_runner.lens.": "gan_runner.stabilisers.lens.",
    "torch.optim.Adam": "gan_runner.adam.Adam",
}


def flatten(cfg: DictConfig) -> dict[str, Any]:
    """{"a.b.c": value} for every leaf, resolved, enums as their names, lists as strings; the old
    names of RENAMED keys, unset, are left out."""

    def walk(tree: Any, prefix: str) -> dict[str, Any]:
        if not isinstance(tree, dict):
            return {prefix: _leaf(tree)}
        return {k: v for key, sub in tree.items() for k, v in walk(sub, f"{prefix}{key}.").items()}

    tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for old in RENAMED:
        *parents, leaf = old.split(".")
        node = tree
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and leaf in node and node[leaf] is None:
            del node[leaf]
    return {k.rstrip("."): v for k, v in walk(tree, "").items()}


def _leaf(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def added(now: dict[str, Any]) -> dict[str, Any]:
    """The ADDED keys `now` (a flat config) has, as flatten writes them: what a record written before
    them was trained as."""
    return {k: _leaf(v) for k, v in ADDED.items() if k in now}


def moved(value: Any) -> Any:
    """A recorded `_target_` under its current name (MOVED)."""
    for old, new in MOVED.items():
        if isinstance(value, str) and (
            value == old or (old.endswith(".") and value.startswith(old))
        ):
            return new + value[len(old) :]
    return value


def renamed(override: str) -> str:
    """A recorded override `key=value` with the key's current name (RENAMED)."""
    key = override_key(override)
    return override.replace(key, RENAMED[key], 1) if key in RENAMED else override
