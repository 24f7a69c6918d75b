"""A folder of generated samples, as `gan-runner-eval --images DIR` reads it: every PNG or JPEG file
under DIR (hidden ones left out), decoded to uint8, all of one size, which must be the reference
dataset's; grey data takes grey images (or RGB ones whose channels are equal, as torchvision's
save_image writes them), colour data RGB ones (grey ones repeated, an alpha channel dropped).
Nothing is resized: the feature network sees the files as training-time evaluation sees G's output.
Whatever is wrong with the folder is one paragraph naming the files."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import UserError
from .folder import image_files

EXTENSIONS = (".png", ".jpg", ".jpeg")


def sample_files(directory: Path) -> tuple[Path, ...]:
    if not directory.is_dir():
        raise UserError(f"--images {directory}: not a directory.")
    return image_files(directory, EXTENSIONS)


def _decode(path: Path, channels: int) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # converting would clip, not scale
            raise ValueError(f"not an 8-bit image (PIL mode {im.mode}): save the samples in 8 bits")
        if channels == 3:
            return np.asarray(im.convert("RGB"))
        rgb = np.asarray(im.convert("RGB"))
        if im.mode not in ("L", "1", "LA") and not (
            (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
        ):
            raise ValueError("a colour image, and the reference data is grey")
        return np.asarray(im.convert("L"))[..., None]


def read_samples(directory: Path, shape: tuple[int, ...], dataset: str) -> Tensor:
    """uint8 [N, C, H, W] of the folder's images, for a reference of `shape` (C, H, W)."""
    files = sample_files(directory)
    if len(files) < 2:
        raise UserError(
            f"--images {directory}: {'one image file' if files else 'no image files'} "
            f"({', '.join(EXTENSIONS)}, at any depth); the metrics compare two sets of samples, "
            "and need at least 2 (FID and KID mean little under thousands)."
        )
    images, bad = [], []
    for path in files:
        try:
            images.append(_decode(path, shape[0]))
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            bad.append(f"{path.relative_to(directory)} ({e})")
    if bad:
        raise UserError(
            f"--images {directory}: {len(bad)} of {len(files)} files cannot be read as "
            f"{'grey' if shape[0] == 1 else 'RGB'} images: {'; '.join(bad[:3])}"
            f"{'; ...' if len(bad) > 3 else ''}. Remove or fix them: every file counts."
        )
    sizes: dict[tuple, Path] = {}
    for path, im in zip(files, images):
        sizes.setdefault(im.shape[:2], path)
    if len(sizes) > 1:
        shown = ", ".join(f"{h}x{w} ({p.relative_to(directory)})" for (h, w), p in sizes.items())
        raise UserError(
            f"--images {directory}: the images are of {len(sizes)} sizes: {shown}. Samples of one "
            "generator are of one size; evaluate each size apart."
        )
    (h, w) = next(iter(sizes))
    if (h, w) != tuple(shape[1:]):
        raise UserError(
            f"--images {directory}: the images are {h}x{w}, and {dataset}'s reference images "
            f"{shape[1]}x{shape[2]}. Nothing is resized here (training-time evaluation feeds G's "
            "output as it is): save the samples at the data's size, or pick the dataset option "
            "(or dataset.resolution) they were generated for."
        )
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
