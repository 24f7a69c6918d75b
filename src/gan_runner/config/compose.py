"""Composition: every use of Hydra's private API is here (`hydra._internal`), so a Hydra upgrade
that moves it breaks one module. `compose` makes the config a command line would, without running
anything; `instantiate` builds a node with bad input unwrapped; `command_line` reads gan-runner's
arguments as Hydra's own parser does (resume rebuilds them)."""

import argparse
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
    anything (no callbacks, no logging set-up). `hydra`: with Hydra's own settings."""
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from hydra.types import RunMode

    from .. import CONF_DIR
    from .store import register

    register()
    search_path = create_config_search_path(CONF_DIR)
    if config_dir:  # where hydra.main puts a --config-dir
        search_path.prepend(
            "command-line", f"file://{config_dir}", anchor=SearchPathQuery(provider="schema")
        )
    try:
        cfg = Hydra.create_main_hydra2("train", search_path).compose_config(
            config_name, list(overrides), RunMode.RUN
        )
    except (
        HydraException,
        ValueError,
    ) as e:  # ValueError: e.g. `group=null` (Hydra's spelling is ~group)
        raise UserError(str(e)) from None
    finally:
        GlobalHydra.instance().clear()
    if not hydra:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg


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
