"""The device a run trains on: resolved from `trainer.device`, and described for the record."""

import os
import platform

import torch

from .errors import UserError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f"trainer.device={name} but PyTorch sees no CUDA device here. "
            "Use trainer.device=cpu or trainer.device=auto."
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UserError(
            f"trainer.device={name} but only {torch.cuda.device_count()} CUDA device(s) are visible."
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(
            f"trainer.device={name} but MPS is not available here. Use trainer.device=cpu."
        )
    return device


def cpu_threads(setting: int | None, toy: bool) -> int:
    """trainer.threads: the setting, else one for the toy data's small nets (a second thread only
    competes: BENCHMARKS.md), else OMP_NUM_THREADS when a launcher set it, else every core."""
    if setting:
        return setting
    if toy:
        return 1
    # the cores this process may use (not torch's current count: an earlier job may have set it)
    return int(os.environ.get("OMP_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))


def describe(device: torch.device) -> dict:
    """What the run trained on, for train.log and results.json: the device and its name (the GPU
    model, or the CPU's)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        name = torch.cuda.get_device_name(index)
        device = torch.device("cuda", index)
    else:
        name = _cpu_name()
    return {"device": str(device), "name": name}


def _cpu_name() -> str:
    try:  # Linux names the model; platform.processor() is often empty there
        with open("/proc/cpuinfo") as f:
            return next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()
