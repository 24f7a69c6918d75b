"""Exact resume: `checkpoints/last.pt` holds every state a run needs to continue bit for bit
(networks, optimizers, stabilisers, the training device's RNG stream, step, metric history)."""

import pickle
from pathlib import Path
from typing import Any, Protocol

import torch

from .errors import UserError, first_line
from .files import atomic_write


class Stateful(Protocol):
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> Any: ...


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def save(
    path: Path, objects: dict[str, Stateful], meta: dict[str, Any], device: torch.device
) -> None:
    state = {
        "objects": {name: obj.state_dict() for name, obj in objects.items()},
        "rng": _rng_state(device),
        "meta": meta,
    }
    atomic_write(path, lambda f: torch.save(state, f))


def read(path: Path, mmap: bool = False) -> dict[str, Any]:
    """The whole checkpoint, read safely (weights_only: tensors and plain data, never code). A file
    that cannot be read, or that holds anything else, is bad input: one message naming it. `mmap`:
    the tensors stay on disk until used (to read the meta data alone)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower():
            raise UserError(
                f"{path} holds objects other than tensors and plain data, which gan-runner will not "
                "unpickle (it may run code): it was not written by gan-runner. Move it away, or train "
                "in a new directory."
            ) from None
        raise UserError(_unreadable(path, e)) from None
    except (
        Exception
    ) as e:  # a truncated zip, a zero-byte file, garbage: whatever torch's readers raise
        raise UserError(_unreadable(path, e)) from None
    if not (
        isinstance(state, dict)
        and {"objects", "rng", "meta"} <= state.keys()
        and isinstance(state["meta"], dict)
        and {"step", "config", "history", "data_shape", "evaluated_G"} <= state["meta"].keys()
    ):
        raise UserError(_unreadable(path, "not a gan-runner checkpoint"))
    return state


def saved_step(path: Path) -> int | None:
    """The step a checkpoint holds, read without its tensors; None when there is none (an
    unreadable one: it is written anew)."""
    try:
        return read(path, mmap=True)["meta"]["step"] if path.is_file() else None
    except UserError:
        return None


def _unreadable(path: Path, why: object) -> str:
    first = first_line(why)
    return (
        f"Cannot read the checkpoint {path}: it is truncated, corrupted or not a gan-runner checkpoint "
        f"({first}). Move it away (the run then starts afresh in its directory) or restore it from a copy."
    )


def restore(state: dict[str, Any], objects: dict[str, Stateful], device: torch.device) -> None:
    """Restore `objects` and the RNG streams from a checkpoint `read` (once: the pre-flight's).
    A CUDA stream saved on a GPU is restored on whichever GPU the run now trains on."""
    for name, obj in objects.items():
        if name in state["objects"] or obj.state_dict():  # a stabiliser that is off has no state
            obj.load_state_dict(state["objects"][name])
    torch.set_rng_state(state["rng"]["cpu"])
    if device.type == "cuda" and "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"], device)
