"""What a run gives a sweeper (e.g. Optuna) to optimise: `metrics.objective`, else the data's primary
value. No torch here: the gpu_pool launcher reads it for the jobs it ran."""

import math

from omegaconf import DictConfig

from .config.rules import dataset_kind
from .errors import UserError
from .metrics import objective, worst
from .run_dir import COMPLETED


def task_objective(task: DictConfig) -> str | None:
    """The value's name (metrics.objective, else the data's primary one), None when the run measures
    nothing ranked."""
    return objective(task.metrics.names, dataset_kind(task.dataset), task.metrics.objective)


def objective_value(task: DictConfig, status: str | None, final: dict | None) -> float | None:
    """The value at the run's final evaluation (`final`) when it completed with it finite, else the
    worst (a diverged, failed or interrupted run: ±inf, never NaN); None when the run measures
    nothing ranked."""
    try:
        name = task_objective(task)
    except UserError:  # a dataset config of no schema: the job was refused for it
        return None
    if name is None:
        return None
    value = (final or {}).get(name) if status == COMPLETED else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else worst(name)
