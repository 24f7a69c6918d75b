"""results.json: what a run reports when it ends, for people and for sweep tables."""

import os
import socket
import time
from pathlib import Path
from typing import Any

import torch

from .checkpoint import write_json
from .metrics import HIGHER_IS_BETTER


def best_of(history: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per metric, the best value seen at any evaluation and the step it was seen at."""
    best: dict[str, dict[str, float]] = {}
    for entry in history:
        for name, value in entry.items():
            if name == "step" or HIGHER_IS_BETTER[name] is None:
                continue
            old = best.get(name, {}).get("value")
            if old is None or (value > old if HIGHER_IS_BETTER[name] else value < old):
                best[name] = {"value": value, "step": entry["step"]}
    return best


def write(run_dir: Path, status: str, *, step: int, steps: int, wall_time: float,
          history: list[dict[str, float]], overrides: list[str], note: str = "", started: float) -> dict[str, Any]:
    results = {
        "status": status,  # completed | diverged | interrupted | failed
        "step": step,
        "steps": steps,
        "wall_time_s": round(wall_time, 3),
        "final": {k: v for k, v in history[-1].items() if k != "step"} if history else {},
        "best": best_of(history),
        "history": history,
        "overrides": overrides,
        "note": note,
        # this attempt (a resumed run has had several): when, and where
        "started": started,
        "ended": time.time(),
        "host": {"name": socket.gethostname(), "torch_threads": torch.get_num_threads(),
                 **{k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_RESTART_COUNT")}},
    }
    write_json(run_dir / "results.json", results)
    return results
