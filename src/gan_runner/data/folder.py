"""A folder tree of images (CelebA, LSUN exports, ...): every image file under `root`, at any depth,
resized on its short side and centre-cropped to `resolution`.

Hidden files and folders are left out; symlinked folders are followed; an unreadable file is
skipped with a warning (its neighbour stands in, so the run stays reproducible). When the decoded
pixels fit `memory_gb` (or `in_memory=true`) they are decoded once, by a DataLoader's workers,
into one uint8 tensor on the device and sampled like MNIST. Otherwise each
batch streams from disk through a DataLoader with workers; its indices come from a generator of the
dataset's own whose position is checkpointed, so a resumed run draws the same batches.
"""

import functools
import hashlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2

from ..errors import UserError
from .images import Images, TensorImages, spaced


class Files(Dataset):
    def __init__(self, files: list[Path], resolution: int, channels: int):
        self.files = files
        self.shape = (channels, resolution, resolution)
        self.mode = "RGB" if channels == 3 else "L"
        self.transform = v2.Compose(
            [v2.Resize(resolution, antialias=True), v2.CenterCrop(resolution), v2.PILToTensor()]
        )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor:
        for j in range(
            i, i + len(self)
        ):  # one bad file must not end a long run: the next one stands in
            path = self.files[j % len(self)]
            try:
                with Image.open(path) as im:
                    return self.transform(im.convert(self.mode))
            except (
                OSError,
                ValueError,
                Image.DecompressionBombError,
            ) as e:  # a bomb: skipped like any bad file
                warnings.warn(f"skipping unreadable image {path}: {e}", stacklevel=1)
        raise UserError(
            f"none of the {len(self)} image files is readable (the first: {self.files[0]})"
        )


class StreamingImages(Images):
    def __init__(
        self, files: Files, value_range: list[float], device: torch.device | str, workers: int
    ):
        super().__init__(files.shape, value_range)
        self.files, self.device, self.workers = files, torch.device(device), workers
        self.seed = int(torch.randint(2**62, ()))  # from the run's seeded RNG: reproducible
        self.batches_drawn = 0  # batches handed out so far
        self._stream: tuple[int, object] | None = None  # (batch size, iterator)

    def __len__(self) -> int:
        return len(self.files)

    def _indices(self, n: int, skip: int):
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(skip):  # what was handed out before a resume
            torch.randint(len(self), (n,), generator=gen)
        while True:
            yield torch.randint(len(self), (n,), generator=gen).tolist()

    def sample(self, n: int) -> Tensor:
        if self._stream is None or self._stream[0] != n:
            loader = DataLoader(
                self.files,
                batch_sampler=self._indices(n, self.batches_drawn),
                num_workers=self.workers,
                pin_memory=self.device.type == "cuda",
                generator=torch.Generator(),
            )  # else starting it would draw from the run's RNG
            self._stream = (n, iter(loader))
        self.batches_drawn += 1
        return self.scale(next(self._stream[1]).to(self.device, non_blocking=True))

    def batches(self, n: int, limit: int | None = None) -> Iterator[Tensor]:
        """`limit` images (default: all) spread evenly over the folder, in order, as uint8 batches of n,
        decoded by workers."""
        files = self.files if limit is None else Subset(self.files, spaced(limit, len(self)))
        loader = DataLoader(
            files, batch_size=n, num_workers=self.workers, generator=torch.Generator()
        )
        yield from (batch.to(self.device) for batch in loader)

    fingerprint_of_content = False  # a cache key on this machine, not the images' identity

    def fingerprint(self) -> str:
        """SHA-1 of the files' paths, sizes and modification times (reading them all would take long)."""
        digest = hashlib.sha1()
        for path in self.files.files:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def state_dict(self) -> dict:
        return {"seed": self.seed, "batches": self.batches_drawn}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.batches_drawn, self._stream = state["seed"], state["batches"], None


@functools.lru_cache(maxsize=1)  # the pre-flight check decodes; the trainer reuses
def decode_all(files: tuple[Path, ...], resolution: int, channels: int, workers: int) -> Tensor:
    loader = DataLoader(
        Files(list(files), resolution, channels),
        batch_size=256,
        num_workers=workers,
        generator=torch.Generator(),
    )  # leave the run's RNG alone: a cache hit must not differ
    return torch.cat(list(loader))


def image_files(top: Path, extensions=IMG_EXTENSIONS) -> tuple[Path, ...]:
    """Every file under `top` (at any depth, symlinked folders followed, hidden files and folders
    left out) whose suffix is one of `extensions`, sorted."""
    return tuple(
        sorted(
            Path(d, f)
            for d, dirs, names in os.walk(top, followlinks=True)
            for f in names
            if Path(f).suffix.lower() in extensions
            and not f.startswith(".")
            and not any(part.startswith(".") for part in Path(d).relative_to(top).parts)
        )
    )


def image_folder(
    root: str,
    resolution: int,
    channels: int,
    range: list[float],
    in_memory: bool | None,
    memory_gb: float,
    workers: int,
    device: torch.device | str = "cpu",
) -> Images:
    top = Path(root).expanduser().absolute()
    if not top.is_dir():
        raise UserError(f"dataset.root={root}: {top} is not a directory of images.")
    files = image_files(top)
    if not files:
        raise UserError(
            f"dataset.root={root}: no image files ({', '.join(IMG_EXTENSIONS)}) under {top}."
        )
    Files(list(files), resolution, channels)[
        0
    ]  # here, not in a loader's worker: none readable is bad input
    fits = len(files) * channels * resolution**2 <= memory_gb * 2**30
    if in_memory if in_memory is not None else fits:
        images = decode_all(files, resolution, channels, workers)
        return TensorImages(images, torch.zeros(len(images), dtype=torch.long), range, device)
    return StreamingImages(Files(list(files), resolution, channels), range, device, workers)
