"""Composition: every use of Hydra's private API is here (`hydra._internal`), so a Hydra upgrade
that moves it breaks one module. `compose` makes the config a command line would, without running
anything; `instantiate` builds a node with bad input unwrapped; `command_line` reads gan-runner's
arguments as Hydra's own parser does (resume rebuilds them)."""

import argparse
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from ..errors import UserError


def compose(
    overrides: list[str],
    config_dir: str | None = None,
    config_name: str = "train",
    hydra: bool = False,
) -> DictConfig:
    """The config gan-runner's configs and `overrides` make, with a user's config directory searched
    too (as `--config-dir` does, so its primary configs are found), composed without running
    anything (no callbacks, no logging set-up). `hydra`: with Hydra's own settings. A mistake in the
    overrides is one paragraph that says what to do (suggest.explain)."""
    from hydra.errors import HydraException

    from .. import CONF_DIR
    from .store import register
    from .suggest import explain

    register()
    try:
        cfg = _composed(list(overrides), config_dir, config_name)
    except (HydraException, ValueError) as e:  # ValueError: e.g. `group=null` (Hydra's: ~group)
        search = [Path(d) for d in (config_dir, CONF_DIR) if d]
        again = lambda o: _composed(o, config_dir, config_name)  # noqa: E731
        raise explain(e, list(overrides), again, search) from None
    if not hydra:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg


def _composed(overrides: list[str], config_dir: str | None, config_name: str) -> DictConfig:
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from .. import CONF_DIR

    search_path = create_config_search_path(CONF_DIR)
    if config_dir:  # where hydra.main puts a --config-dir
        search_path.prepend(
            "command-line", f"file://{config_dir}", anchor=SearchPathQuery(provider="schema")
        )
    held = GlobalHydra.instance()  # inside a running app (a sweep's pre-flight): put back after
    outer = held.hydra if held.is_initialized() else None
    held.clear()
    try:
        return Hydra.create_main_hydra2("train", search_path).compose_config(
            config_name, overrides, RunMode.RUN
        )
    finally:
        held.clear()
        if outer is not None:
            held.initialize(outer)


def instantiate(node: DictConfig, *args, **kwargs) -> Any:
    """hydra.utils.instantiate, with bad input a target raises (UserError) unwrapped from Hydra's
    InstantiationException: one paragraph, no traceback."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, *args, **kwargs)
    except InstantiationException as e:
        if isinstance(e.__cause__, UserError):
            raise e.__cause__ from None
        raise


def command_line(argv: list[str]) -> argparse.Namespace:
    """`gan-runner`'s arguments as Hydra parses them: its flags anywhere, as a user types them, and
    the overrides."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_intermixed_args(argv)


# Hydra's own command-line options (get_args_parser's), rebuilt when resume rewrites a command line
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


def first_point(overrides: list[str]) -> list[str]:
    """A sweep's command line as one run: each swept key at its first value. The keys are every
    point's: their mistakes are found here. An override that does not parse: one paragraph."""
    from hydra.errors import OverrideParseException

    from .suggest import explain

    try:
        return grid_points(sweep_grid(overrides), 1)[0][0]
    except OverrideParseException as e:
        raise explain(e, list(overrides), None, []) from None


def _values(override) -> list[str] | None:
    try:
        return list(override.sweep_string_iterator())
    except Exception:  # glob(*) and the like: values only Hydra's sweeper can list
        return None


def sweep_grid(overrides: list[str]) -> dict[str, list[str]]:
    """Each key a sweep's overrides set (its +/~ prefix kept) and the values it takes: a list's or a
    range's, an interval's start and middle (a sampler draws within it; its end may be open); a
    later override of a key wins. A ~deletion takes no value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import IntervalSweep

    grid: dict[str, list[str]] = {}
    for o in OverridesParser.create().parse_overrides(overrides):
        key = o.get_key_element()
        for other in [k for k in grid if k.lstrip("+~") == key.lstrip("+~")]:
            del grid[other]
        if isinstance(o.value(), IntervalSweep):  # its start and middle: the end may be open
            start, end = o.value().start, o.value().end
            middle = (start + end) // 2 if isinstance(start, int) else (start + end) / 2
            grid[key] = [str(start), str(middle)]
        elif o.is_sweep_override():
            if (values := _values(o)) is not None:  # else left out: the job checks it
                grid[key] = values
        else:
            grid[key] = [] if o.is_delete() else [o.get_value_element_as_str()]
    return grid


def grid_points(grid: dict[str, list[str]], limit: int) -> tuple[list[list[str]], int]:
    """Up to `limit` points of the grid as override lists, and how many it has: first every value of
    every key (the others at their first; key by key, a value of each in turn, so that a long range
    does not crowd out the rest), then the grid in order."""
    import itertools
    import math

    lines = [[f"{k}={v}" for v in values] if values else [k] for k, values in grid.items()]
    total = math.prod(len(values) for values in lines)
    first = [values[0] for values in lines]
    each = [
        [*first[:i], values[j], *first[i + 1 :]]
        for j in range(1, max(map(len, lines), default=1))
        for i, values in enumerate(lines)
        if j < len(values)
    ]
    points = [first, *each][:limit]
    for point in itertools.islice(itertools.product(*lines), limit):
        if len(points) >= limit:
            break
        if list(point) not in points:
            points.append(list(point))
    return points, total
