"""Atomic writes and exact resume: `checkpoints/last.pt` holds every state a run needs to continue
bit for bit (networks, optimizers, RNG streams, step, metric history)."""

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
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode() + b"\n"))


def save(path: Path, objects: dict[str, Stateful], meta: dict[str, Any]) -> None:
    state = {
        "objects": {name: obj.state_dict() for name, obj in objects.items()},
        "rng": {"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        "meta": meta,
    }
    atomic_write(path, lambda f: torch.save(state, f))


def load(path: Path, objects: dict[str, Stateful]) -> dict[str, Any]:
    """Restore `objects` and the RNG streams from `path`; return the saved meta data."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for name, obj in objects.items():
        obj.load_state_dict(state["objects"][name])
    torch.set_rng_state(state["rng"]["cpu"])
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return state["meta"]
