"""The schema's building blocks: a field with a range rule (checked by `rules.validate`, naming the
key), the common ranges, and the enumerations options choose from."""

import math
import re
from dataclasses import field
from enum import Enum
from typing import Any, Callable

from omegaconf import MISSING


def checked(rule: str, ok: Callable[[Any], bool], default: Any = MISSING) -> Any:
    return field(default=default, metadata={"rule": rule, "ok": ok})


def positive(default: Any = MISSING) -> Any:
    return checked("must be a finite number > 0", lambda v: math.isfinite(v) and v > 0, default)


def at_least(low: int, default: Any = MISSING) -> Any:
    return checked(
        f"must be >= {low} (and finite)", lambda v: math.isfinite(v) and v >= low, default
    )


def fraction(default: Any = MISSING) -> Any:
    return checked("must be in [0, 1)", lambda v: 0 <= v < 1, default)


RANGES = {(-1.0, 1.0): "tanh", (0.0, 1.0): "sigmoid"}  # image value range -> G's output activation


def value_range(default: Any = MISSING) -> Any:
    return checked("must be [-1, 1] or [0, 1]", lambda v: tuple(v) in RANGES, default)


DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")  # trainer.device


class Activation(str, Enum):
    relu = "relu"
    leaky_relu = "leaky_relu"
    elu = "elu"
    tanh = "tanh"
    gelu = "gelu"
    silu = "silu"


class Init(str, Enum):
    default = "default"  # the architecture's own: PyTorch's, or SN-GAN's for resnet
    orthogonal = "orthogonal"
    xavier_uniform = "xavier_uniform"
    xavier_normal = "xavier_normal"
    normal = "normal"  # N(0, init_gain); batch-norm scales N(1, init_gain): DCGAN with 0.02
    # Goodfellow et al. 2014's MNIST nets (pylearn2): weights U(±init_gain) (D: ±d_init_gain), biases
    # zero, G's output bias the inverse of its output activation of the data's mean pixels
    goodfellow = "goodfellow"


class Output(str, Enum):
    none = "none"  # unbounded: toy data
    tanh = "tanh"  # [-1, 1]
    sigmoid = "sigmoid"  # [0, 1]


class Order(str, Enum):
    alternating = "alternating"  # Algorithm 1: D steps, then a G step against the updated D
    simultaneous = "simultaneous"  # both players' gradients from one minibatch, then both steps
