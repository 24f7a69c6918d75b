"""Registration: the schema in Hydra's ConfigStore and the resolvers in OmegaConf, done by the entry
points (and the launcher plugin) before Hydra composes; importing a module registers nothing."""

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from ..run_dir import job_dirname
from .resolvers import RESOLVERS
from .schema import SCHEMAS, TrainConfig


def register() -> None:
    """The schema (`schema`, `schema/<group>/<name>`) and the resolvers; idempotent."""
    for name, resolver in {**RESOLVERS, "job_dirname": job_dirname}.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
    store = ConfigStore.instance()  # storing again replaces a node with itself
    store.store(name="schema", node=TrainConfig)
    for group, nodes in SCHEMAS.items():
        for name, node in nodes.items():
            store.store(group=f"schema/{group}", name=name, node=node)
