"""Exact resume: `checkpoints/last.pt` holds every state a run needs to continue bit for bit
(networks, optimizers, stabilisers, the training device's RNG stream, step, metric history)."""

from pathlib import Path
from typing import Any, Protocol

import torch

from .files import atomic_write


class Stateful(Protocol):
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> Any: ...


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def save(path: Path, objects: dict[str, Stateful], meta: dict[str, Any], device: torch.device) -> None:
    state = {
        "objects": {name: obj.state_dict() for name, obj in objects.items()},
        "rng": _rng_state(device),
        "meta": meta,
    }
    atomic_write(path, lambda f: torch.save(state, f))


def load(path: Path, objects: dict[str, Stateful], device: torch.device) -> dict[str, Any]:
    """Restore `objects` and the RNG streams from `path`; return the saved meta data.
    A CUDA stream saved on a GPU is restored on whichever GPU the run now trains on."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for name, obj in objects.items():
        if name in state["objects"] or obj.state_dict():  # a stabiliser that is off has no state
            obj.load_state_dict(state["objects"][name])
    torch.set_rng_state(state["rng"]["cpu"])
    if device.type == "cuda" and "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"], device)
    return state["meta"]


def evaluated_generator(path: Path, model_cfg, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The generator a checkpoint's run evaluates (its EMA, or Lookahead's slow G, when on), built
    from `model_cfg` for the run's data shape, in eval mode on `device`; and the checkpoint's meta."""
    from .config import instantiate

    meta = torch.load(path, map_location="cpu", weights_only=True)["meta"]
    g, _ = instantiate(model_cfg, data_shape=tuple(meta["data_shape"]))
    g.load_state_dict(meta["evaluated_G"])
    return g.to(device).eval(), meta
