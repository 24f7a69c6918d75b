"""Image datasets held on the training device as one uint8 tensor: a batch is a random index draw
on the device, scaled to the model's value range on the fly. No DataLoader, no PIL in the loop.

MNIST, Fashion-MNIST, CIFAR-10 and SVHN come through torchvision's own readers; stacked MNIST
is built from MNIST by index, so it costs no more memory than MNIST itself.
"""

import functools
import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from ..errors import UserError, first_line

TORCHVISION = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "svhn": "SVHN",
}


class Images:
    """What every image dataset offers beside `sample`: shape, value range, and a view of samples."""

    preview = 64  # samples in the grid logged every trainer.sample_every steps

    def __init__(self, shape: tuple[int, ...], value_range: list[float]):
        self.shape = shape
        self.range = (float(value_range[0]), float(value_range[1]))

    def scale(self, pixels: Tensor) -> Tensor:
        """uint8 pixels -> floats in the configured range."""
        lo, hi = self.range
        return pixels.float().mul_((hi - lo) / 255).add_(lo)

    def show(self, samples: Tensor) -> np.ndarray:
        """A square grid of `samples` as an HxWx3 uint8 picture."""
        from torchvision.utils import make_grid

        grid = make_grid(
            samples.detach().float().cpu(),
            nrow=math.ceil(math.sqrt(len(samples))),
            padding=2,
            normalize=True,
            value_range=self.range,
            pad_value=1.0,
        )
        return grid.mul(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()

    def state_dict(self) -> dict:
        return {}  # the batches come from the global RNG, which the checkpoint holds

    def load_state_dict(self, state: dict) -> None:
        pass


def spaced(n: int, size: int) -> list[int]:
    """n indices spread evenly over `size` items (all of them when n >= size): a subset that meets
    every class of a dataset stored class by class, as the 5,000 digits and image folders are."""
    return list(range(size)) if n >= size else [i * size // n for i in range(n)]


class IndexedImages(Images):
    """Images addressed by index on the training device: a batch is a random index draw."""

    labels: Tensor
    device: torch.device

    def __len__(self) -> int:
        raise NotImplementedError

    def gather(self, index: Tensor) -> Tensor:
        """uint8 images [n, C, H, W] for the given indices."""
        raise NotImplementedError

    def sample(self, n: int) -> Tensor:
        return self.scale(self.gather(torch.randint(len(self), (n,), device=self.device)))

    def evenly(self, n: int) -> Tensor:
        """n uint8 images spread evenly over the set (e.g. a figure's real images of every class)."""
        return self.gather(torch.tensor(spaced(n, len(self)), device=self.device))

    def batches(self, n: int, limit: int | None = None) -> Iterator[Tensor]:
        """`limit` images (default: all) spread evenly over the set, in order, as uint8 batches of n."""
        index = torch.tensor(spaced(limit or len(self), len(self)), device=self.device)
        yield from (self.gather(part) for part in index.split(n))

    def fingerprint(self) -> str:
        """SHA-1 of the images and labels: what a cached result computed from them is keyed by."""
        digest = hashlib.sha1()
        for batch in self.batches(4096):
            digest.update(batch.cpu().numpy().tobytes())
        digest.update(self.labels.cpu().numpy().tobytes())
        return digest.hexdigest()


class TensorImages(IndexedImages):
    """uint8 images [N, C, H, W] (and their labels) on the training device."""

    def __init__(
        self, images: Tensor, labels: Tensor, value_range: list[float], device: torch.device | str
    ):
        super().__init__(tuple(images.shape[1:]), value_range)
        self.images, self.labels = images.to(device), labels.to(device)
        self.device = self.images.device

    def __len__(self) -> int:
        return len(self.images)

    def gather(self, index: Tensor) -> Tensor:
        return self.images[index]


class StackedMNIST(IndexedImages):
    """Image i stacks digits triples[i] as its R, G, B channels; its label is their 3-digit number."""

    def __init__(
        self,
        digits: Tensor,
        digit_labels: Tensor,
        triples: Tensor,
        value_range: list[float],
        device: torch.device | str,
    ):
        super().__init__((3, *digits.shape[2:]), value_range)
        self.digits, self.triples = digits[:, 0].to(device), triples.to(device)
        self.labels = (digit_labels[triples] * torch.tensor([100, 10, 1])).sum(dim=1).to(device)
        self.device = self.digits.device

    def __len__(self) -> int:
        return len(self.triples)

    def gather(self, index: Tensor) -> Tensor:
        return self.digits[self.triples[index]]


def resize(images: Tensor, resolution: int, chunk: int = 4096) -> Tensor:
    """Antialiased bilinear resize of uint8 images, once, at load time."""
    out = [
        F.interpolate(part.float(), size=(resolution, resolution), mode="bilinear", antialias=True)
        .round_()
        .clamp_(0, 255)
        .to(torch.uint8)
        for part in images.split(chunk)
    ]
    return torch.cat(out)


def _expected_place(name: str, root: Path, split: str) -> Path:
    return (
        root
        / {
            "mnist": "MNIST/raw",
            "fashion_mnist": "FashionMNIST/raw",
            "cifar10": "cifar-10-batches-py",
            "svhn": f"{split}_32x32.mat",
        }[name]
    )


# The pre-flight check loads the data, the trainer reuses it (as do later jobs of a sweep run in one
# process). One entry: a CPU copy of the last dataset stays in memory while the run trains.
@functools.lru_cache(maxsize=1)
def load(
    name: str, root: str, split: str, download: bool, resolution: int | None
) -> tuple[Tensor, Tensor]:
    """uint8 images [N, C, H, W] and int64 labels on the CPU, read by torchvision."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, TORCHVISION[name])
    where = Path(root).expanduser().absolute()
    try:
        ds = cls(
            str(where),
            download=download,
            **({"split": split} if name == "svhn" else {"train": split == "train"}),
        )
    except (
        RuntimeError,
        OSError,
        AssertionError,
        ValueError,
        IndexError,
    ) as e:  # not found, corrupted (torchvision
        # asserts on an IDX header it does not expect), no network
        place = _expected_place(name, where, split)
        e = first_line(e) if str(e).strip() else f"{type(e).__name__} in torchvision's reader"
        if download:
            raise UserError(
                f"Downloading {cls.__name__} into {where} failed ({e}). Without network access, "
                f"put the files at {place} yourself and run with dataset.download=false."
            ) from None
        if place.exists():
            raise UserError(
                f"{cls.__name__} ({split}) at {place} is there but torchvision rejects it "
                f"({e}): the files are incomplete or corrupted (their MD5 sums are checked). "
                "Replace them, or fetch them again with dataset.download=true."
            ) from None
        raise UserError(
            f"{cls.__name__} ({split}) is not in {where}: torchvision looks for {place}. Put "
            "the files there, point dataset.root at them, or let gan-runner fetch them with "
            "dataset.download=true"
            + (
                "; offline, gan-runner-digits writes 5,000 real MNIST digits (dataset.root=data/mnist5k)."
                if name in ("mnist", "stacked_mnist")
                else "."
            )
        ) from None
    images = torch.as_tensor(np.asarray(ds.data))
    if name in ("mnist", "fashion_mnist"):
        images, labels = images[:, None], ds.targets
    elif name == "cifar10":
        images, labels = images.permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)
    else:
        images, labels = images.contiguous(), torch.as_tensor(ds.labels)
    if images.ndim != 4 or not len(images) or len(images) != len(labels):
        raise UserError(
            f"{cls.__name__} ({split}) at {_expected_place(name, where, split)} is corrupted: "
            f"{tuple(images.shape)} images for {len(labels)} labels. Replace the files."
        )
    if resolution and resolution != images.shape[-1]:
        images = resize(images, resolution)
    return images, labels.long()


def torchvision_images(
    name: str,
    root: str,
    download: bool,
    split: str,
    range: list[float],
    resolution: int | None,
    device: torch.device | str = "cpu",
) -> TensorImages:
    images, labels = load(name, root, split, download, resolution)
    return TensorImages(images, labels, range, device)


def stacked_mnist(
    root: str,
    download: bool,
    split: str,
    range: list[float],
    resolution: int | None,
    size: int,
    seed: int,
    device: torch.device | str = "cpu",
) -> StackedMNIST:
    digits, labels = load("mnist", root, split, download, resolution)
    triples = torch.randint(len(digits), (size, 3), generator=torch.Generator().manual_seed(seed))
    return StackedMNIST(digits, labels, triples, range, device)
