"""The dataset options' schemas: each dataclass's `_target_` builds the data (gan_runner.data, bilinear),
and each declares its kind (metrics.KINDS): which metrics fit it and which [auto] picks. Adding a
dataset: its YAML under conf/dataset/, its builder, its dataclass here and its DATASETS entry."""

from dataclasses import dataclass
from typing import List, Optional

from omegaconf import MISSING

from .fields import at_least, checked, positive, value_range


@dataclass
class RingConfig:
    _target_: str = "gan_runner.data.mixtures.ring"
    kind = "mixture"
    n_modes: int = at_least(1)
    radius: float = positive()
    sigma: float = positive()


@dataclass
class GridConfig:
    _target_: str = "gan_runner.data.mixtures.grid"
    kind = "mixture"
    side: int = at_least(1)
    spacing: float = positive()
    sigma: float = positive()


@dataclass
class TorchvisionFiles:
    """Files torchvision reads, held on the device as uint8."""

    root: str = MISSING  # where the files are (or go, with download=true)
    download: bool = False  # never touch the network unless asked
    split: str = "train"
    range: List[float] = value_range()  # the value range batches are scaled to
    resolution: Optional[int] = checked(
        "must be >= 4", lambda v: v is None or v >= 4, None
    )  # None: native


@dataclass
class TorchvisionConfig(TorchvisionFiles):
    """MNIST, Fashion-MNIST, CIFAR-10 or SVHN."""

    _target_: str = "gan_runner.data.images.torchvision_images"
    name: str = checked(
        "must be mnist, fashion_mnist, cifar10 or svhn",
        lambda v: v in ("mnist", "fashion_mnist", "cifar10", "svhn"),
    )

    @property
    def kind(self) -> str:
        return "digits" if self.name in ("mnist", "fashion_mnist") else "photos"


@dataclass
class StackedMNISTConfig(TorchvisionFiles):
    """Three MNIST digits drawn independently as the R, G, B channels: 1000 modes."""

    _target_: str = "gan_runner.data.images.stacked_mnist"
    kind = "stacked_digits"
    size: int = at_least(1)  # how many stacked images the dataset holds
    seed: int = 0  # which digits are stacked: fixed, so the dataset is the same in every run


@dataclass
class BilinearConfig:
    """Chavdarova et al. 2021's stochastic bilinear game (bilinear.py): its aᵢ, bᵢ; play it with model=bilinear."""

    _target_: str = "gan_runner.bilinear.problem"
    kind = "game"
    dim: int = at_least(1)  # n = d
    seed: int = at_least(0, 0)  # which game: aᵢ, bᵢ drawn from it


@dataclass
class ImageFolderConfig:
    """Every image under `root` (any depth), centre-cropped and resized to `resolution`."""

    _target_: str = "gan_runner.data.folder.image_folder"
    kind = "unlabelled"
    root: str = MISSING
    resolution: int = at_least(4)
    channels: int = checked("must be 1 or 3", lambda v: v in (1, 3), 3)
    range: List[float] = value_range()
    in_memory: Optional[bool] = (
        None  # None: in memory when it fits memory_gb, else streamed from disk
    )
    memory_gb: float = positive(4.0)
    workers: int = at_least(0, 2)  # decoding processes


DATASETS = {
    "ring": RingConfig,
    "grid": GridConfig,
    "torchvision": TorchvisionConfig,
    "stacked_mnist": StackedMNISTConfig,
    "image_folder": ImageFolderConfig,
    "bilinear": BilinearConfig,
}
