"""Atomic writes and exact resume: `checkpoints/last.pt` holds every state a run needs to continue
bit for bit (networks, optimizers, the training device's RNG stream, step, metric history)."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, IO, Protocol

import torch


class Stateful(Protocol):
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> Any: ...


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same directory, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # mkstemp's 0600 would hide results from collaborators
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode() + b"\n"))


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
        obj.load_state_dict(state["objects"][name])
    torch.set_rng_state(state["rng"]["cpu"])
    if device.type == "cuda" and "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"], device)
    return state["meta"]
