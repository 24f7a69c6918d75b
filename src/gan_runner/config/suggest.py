"""What went wrong in a command line, in one paragraph: a composition error of Hydra's turned into what
a user can act on. An option of a group that does not exist ("did you mean lsgan?", and the options), a
key a node does not have ("did you mean trainer.steps?", its keys, and which options of the group
have it, e.g. loss.a: loss=lsgan), a value of the wrong type (what the key takes), an override Hydra
cannot read (which one)."""

import difflib
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ..errors import UserError, first_line
from ..run_dir import override_key
from .compat import RENAMED

TYPES = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "text"}


def did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(close)}?" if close else ""


def explain(error: Exception, overrides: list[str], compose, search: list[Path]) -> UserError:
    """`error`, raised composing `overrides`, as one paragraph. `compose(overrides)` composes (to find
    the keys a node has); `search` are the config directories, the user's first (to find options)."""
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )

    if isinstance(error, MissingConfigException) and "/" in str(error.missing_cfg_file or ""):
        group, option = str(error.missing_cfg_file).rsplit("/", 1)
        known = sorted(set(error.options or []) or options(group, search))
        given = next((o for o in overrides if override_key(o) == group), f"{group}={option}")
        return UserError(
            f"{given}: {group} has no option '{option}'.{did_you_mean(option, known)} "
            f"The options of {group}: {', '.join(known) or 'none'}."
        )
    cause = error.__cause__
    key = getattr(cause, "full_key", None)
    if isinstance(error, ConfigCompositionException) and key:
        given = next((o for o in overrides if override_key(o) == key), key)
        if "could not be converted" in str(cause) or "expected one of" in str(cause):
            return UserError(f"{given}: {key} takes {_takes(str(cause))}.")
        return UserError(_unknown_key(given, key, overrides, compose, search))
    if isinstance(error, OverrideParseException):
        bad = next((o for o in overrides if _unreadable(o)), None)
        return UserError(
            f"Cannot read the override {bad or ' '.join(overrides)!r}: {first_line(error)}. Overrides "
            "are key=value, group=option, +key=value (add) or ~key (remove); quote values with spaces."
        )
    return UserError(str(error))


def unknown_key_message(key: str, valid: list[str]) -> str:
    """A key no schema node has, with the nearest of the node's keys (not renamed ones, not `_target_`
    and its kind, not hydra)."""
    parent, _, leaf = key.rpartition(".")
    keys = sorted(
        k
        for k in valid
        if f"{parent}.{k}".lstrip(".") not in RENAMED and not k.startswith("_") and k != "hydra"
    )
    close = difflib.get_close_matches(leaf, keys, n=2, cutoff=0.6)
    mean = (
        f" Did you mean {' or '.join(f'{parent}.{k}'.lstrip('.') for k in close)}?" if close else ""
    )
    listed = f"The keys of {parent or 'the config'}: {', '.join(keys)}." if keys else ""
    return f"Unknown key '{key}'.{mean} {listed}".rstrip()


def _unknown_key(given: str, key: str, overrides: list[str], compose, search: list[Path]) -> str:
    parent, _, leaf = key.rpartition(".")
    others = [o for o in overrides if override_key(o) != key]
    cfg = _try(compose, others)
    node = OmegaConf.select(cfg, parent) if cfg is not None and parent else cfg
    valid = list(node.keys()) if isinstance(node, DictConfig) else []
    text = f"{given}: {unknown_key_message(key, valid)}"
    group = key.split(".")[0]
    if parent and options(group, search):  # a key of some option of the group, not this one?
        having = [
            option
            for option in options(group, search)
            if (c := _try(compose, [*others, f"{group}={option}"])) is not None
            and OmegaConf.select(c, key, default=_ABSENT) is not _ABSENT
        ]
        if having:
            text += (
                f" {key} belongs to {group}={' or '.join(having)}: pick it first, e.g. "
                f"{group}={having[0]} {given}."
            )
    return text


_ABSENT = object()


def _try(compose, overrides: list[str]):
    try:
        return compose(overrides)
    except Exception:
        return None


def options(group: str, search: list[Path]) -> list[str]:
    """The options of a config group in the config directories `search`."""
    return sorted(
        {p.stem for d in search if (d / group).is_dir() for p in (d / group).glob("*.yaml")}
    )


def _takes(message: str) -> str:
    if m := re.search(r"converted to (\w+)", message):
        return TYPES.get(m.group(1), m.group(1).lower())
    if m := re.search(r"expected one of \[([^\]]*)\]", message):
        return f"one of {m.group(1)}"
    return first_line(message)


def _unreadable(override: str) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        OverridesParser.create().parse_overrides([override])
        return False
    except Exception:
        return True
