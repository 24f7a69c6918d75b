"""Small datasets written in the real on-disk formats (IDX, CIFAR pickles, SVHN .mat, image files),
so the tests go through torchvision's own readers. Class k is the digit k, rendered with Pillow's
built-in font at a random size, position, slant and stroke (MNIST-like strokes; for colour data, a
coloured digit on a coloured ground, SVHN-like), so a GAN has strokes to learn and a classifier
has classes to tell apart. Each writer returns what it wrote, for the tests to compare."""

import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def class_images(labels: np.ndarray, size: int, channels: int, seed: int) -> np.ndarray:
    """uint8 [N, size, size, channels]: digit labels[i] drawn on image i."""
    from PIL import ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    fonts = {s: ImageFont.load_default(size=s) for s in range(size * 2 // 3, size * 6 // 7 + 1)}
    out = np.empty((len(labels), size, size, channels), dtype=np.uint8)
    for i, k in enumerate(labels):
        glyph = Image.new("L", (size, size), 0)
        centre = size / 2 + rng.uniform(-size / 14, size / 14, 2)
        ImageDraw.Draw(glyph).text(
            tuple(centre),
            str(int(k)),
            fill=255,
            anchor="mm",
            font=fonts[int(rng.choice(list(fonts)))],
            stroke_width=int(rng.integers(0, 2)),
            stroke_fill=255,
        )
        mask = (
            np.asarray(
                glyph.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR), dtype=np.float32
            )[..., None]
            / 255
        )
        if channels == 1:
            out[i] = (mask * 255).round()
        else:
            ink, ground = rng.integers(0, 256, (2, 3))
            out[i] = (mask * ink + (1 - mask) * ground).round()
    return out


def write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format of LeCun's MNIST files: magic (0, 0, 8 = uint8, ndim), big-endian sizes, data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_mnist(
    root: Path, n_train: int = 300, n_test: int = 100, folder: str = "MNIST", seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte, as torchvision expects.
    Returns {"train"|"test": (images [N, 28, 28], labels [N])}."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = class_images(labels, 28, 1, seed + n)[..., 0]
        write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", labels)
        written[split] = (images, labels)
    return written


def make_cifar10(
    root: Path, per_batch: int = 40, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} (python pickles, rows of
    3072 bytes in R, G, B planes). torchvision checks their MD5s: tests patch that check out.
    Returns {"train"|"test": (images [N, 32, 32, 3], labels [N])}."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    batches = []
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        labels = rng.integers(0, 10, per_batch)
        hwc = class_images(labels, 32, 3, seed + i)
        with open(folder / name, "wb") as f:
            pickle.dump(
                {
                    "data": hwc.transpose(0, 3, 1, 2).reshape(per_batch, 3072),
                    "labels": labels.tolist(),
                },
                f,
            )
        batches.append((hwc, labels))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{k}" for k in range(10)]}, f)
    train = tuple(np.concatenate(parts) for parts in zip(*batches[:5]))
    return {"train": train, "test": batches[5]}


def make_svhn(
    root: Path, split: str = "train", n: int = 200, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """root/<split>_32x32.mat with X [32, 32, 3, N] and y [N, 1] in 1..10 (10 is the digit 0).
    Returns (images [N, 32, 32, 3], labels [N] in 0..9)."""
    from scipy.io import savemat

    labels = np.random.default_rng(seed).integers(0, 10, n)
    images = class_images(labels, 32, 3, seed)
    root.mkdir(parents=True, exist_ok=True)
    savemat(
        root / f"{split}_32x32.mat",
        {
            "X": images.transpose(1, 2, 3, 0),
            "y": np.where(labels == 0, 10, labels)[:, None].astype(np.uint8),
        },
    )
    return images, labels


def make_image_folder(root: Path, n: int = 24, seed: int = 0) -> Path:
    """n images of assorted sizes and formats in nested folders; each is red on its outer thirds
    (left/right or top/bottom, along its long side) and green in the middle, so a centre crop is green."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        w, h = int(rng.integers(40, 120)), int(rng.integers(40, 120))
        img = np.zeros((h, w, 3), dtype=np.uint8)
        img[..., 0] = 200
        if w >= h:
            img[:, (w - h) // 2 : (w + h) // 2] = (0, 200, 0)
        else:
            img[(h - w) // 2 : (h + w) // 2, :] = (0, 200, 0)
        path = (
            root
            / f"part{i % 3}"
            / ("deep" if i % 2 else "")
            / f"img{i}.{'png' if i % 4 else 'jpg'}"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
    (root / "notes.txt").write_text("not an image")
    return root
