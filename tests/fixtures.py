"""Small datasets written in the real on-disk formats (IDX, CIFAR pickles, SVHN .mat, image files),
so the tests go through torchvision's own readers. Class k is drawn as a bright horizontal bar at a
height that depends on k (plus noise), so a classifier can learn the classes."""

import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def class_images(labels: np.ndarray, size: int, channels: int, seed: int) -> np.ndarray:
    """uint8 [N, size, size, channels]: noise in 0..40, a 255 bar at rows 2k+1 .. 2k+3 for class k."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (len(labels), size, size, channels), dtype=np.uint8)
    step = (size - 4) / 10
    for i, k in enumerate(labels):
        top = int(round(k * step)) + 1
        images[i, top:top + 3, 2:-2, :] = 255
    return images


def write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format of LeCun's MNIST files: magic (0, 0, 8 = uint8, ndim), big-endian sizes, data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_mnist(root: Path, n_train: int = 300, n_test: int = 100, folder: str = "MNIST", seed: int = 0) -> Path:
    """root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte, as torchvision expects."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", class_images(labels, 28, 1, seed + n)[..., 0])
        write_idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def make_cifar10(root: Path, per_batch: int = 40, seed: int = 0) -> Path:
    """root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} (python pickles, rows of
    3072 bytes in R, G, B planes). torchvision checks their MD5s: tests patch that check out."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        labels = rng.integers(0, 10, per_batch)
        hwc = class_images(labels, 32, 3, seed + i)
        data = hwc.transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels.tolist()}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{k}" for k in range(10)]}, f)
    return root


def make_svhn(root: Path, split: str = "train", n: int = 200, seed: int = 0) -> Path:
    """root/<split>_32x32.mat with X [32, 32, 3, N] and y [N, 1] in 1..10 (10 is the digit 0)."""
    from scipy.io import savemat

    labels = np.random.default_rng(seed).integers(0, 10, n)
    images = class_images(labels, 32, 3, seed)
    root.mkdir(parents=True, exist_ok=True)
    savemat(root / f"{split}_32x32.mat", {"X": images.transpose(1, 2, 3, 0),
                                          "y": np.where(labels == 0, 10, labels)[:, None].astype(np.uint8)})
    return root


def make_image_folder(root: Path, n: int = 24, seed: int = 0) -> Path:
    """n images of assorted sizes and formats in nested folders; each is red on its outer thirds
    (left/right or top/bottom, along its long side) and green in the middle, so a centre crop is green."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        w, h = int(rng.integers(40, 120)), int(rng.integers(40, 120))
        img = np.zeros((h, w, 3), dtype=np.uint8)
        img[..., 0] = 200
        if w >= h:
            img[:, (w - h) // 2:(w + h) // 2] = (0, 200, 0)
        else:
            img[(h - w) // 2:(h + w) // 2, :] = (0, 200, 0)
        path = root / f"part{i % 3}" / ("deep" if i % 2 else "") / f"img{i}.{'png' if i % 4 else 'jpg'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
    (root / "notes.txt").write_text("not an image")
    return root
