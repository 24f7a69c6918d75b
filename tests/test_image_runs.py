"""Training on image data end to end: sample grids, exact resume with image data, the CLI."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg, special
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchvision.datasets import MNIST

from conftest import (
    assert_same_tensors,
    evaluated_samples,
    load_state,
    make_cfg,
    metrics_classifier,
    run_cli,
)
from gan_runner.metrics import TRAINING
from gan_runner.trainer import train

SMALL = [
    "model=dcgan",
    "model.width=8",
    "model.z_dim=16",
    "trainer.batch_size=16",
    "metrics.n_samples=64",
]


def test_a_dcgan_run_on_mnist_files_writes_sample_grids(image_root, tmp_path):
    cfg = make_cfg("dataset=mnist", f"dataset.root={image_root}", *SMALL, "trainer.steps=20")
    out = train(cfg, tmp_path)
    assert out.status == "completed"
    grid = np.asarray(Image.open(tmp_path / "samples" / "step_0000020.png"))
    assert grid.shape == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2, 3)  # 64 samples, 8 x 8 tiles
    ea = EventAccumulator(str(tmp_path)).Reload()
    images = ea.Images("samples")
    assert [e.step for e in images] == [20] and (images[0].width, images[0].height) == (
        grid.shape[1],
        grid.shape[0],
    )
    final = json.loads((tmp_path / "results.json").read_text())["final"]
    assert set(final) - set(TRAINING) == {
        "fid_classifier",
        "fid_classifier_floor",
        "is_classifier",
        "is_classifier_std",
    }  # metrics=auto for MNIST
    # the numbers are those of the evaluated generator's samples, recomputed from the checkpoint
    # with SciPy: the FID against every training image, the IS as the mean over 10 splits
    classifier = metrics_classifier(cfg)
    with torch.no_grad():
        fake, logits = classifier.embed(evaluated_samples(tmp_path, 64))
        real, _ = classifier.embed(MNIST(str(image_root), train=True).data[:, None].float() / 255)
    (mu1, s1), (mu2, s2) = [
        (f.mean(0), np.cov(f, rowvar=False)) for f in (fake.double().numpy(), real.double().numpy())
    ]
    fid = (
        ((mu1 - mu2) ** 2).sum()
        + np.trace(s1)
        + np.trace(s2)
        - 2 * np.trace(linalg.sqrtm(s1 @ s2)).real
    )
    assert final["fid_classifier"] == pytest.approx(fid, rel=1e-6)
    probs = logits.softmax(1).double().numpy()
    scores = [
        np.exp(special.rel_entr(p, p.mean(0)).sum(1).mean()) for p in np.array_split(probs, 10)
    ]
    assert final["is_classifier"] == pytest.approx(np.mean(scores), rel=1e-6)
    assert final["is_classifier_std"] == pytest.approx(np.std(scores), rel=1e-3, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "dataset",
    [
        ["dataset=stacked_mnist", "dataset.size=1000"],
        [
            "dataset=image_folder",
            "dataset.root={root}/folder",
            "dataset.resolution=32",
            "dataset.in_memory=false",
            "dataset.workers=1",
            "metrics.names=[]",
        ],
    ],
)
def test_exact_resume_on_image_data(image_root, tmp_path, dataset):
    common = [d.format(root=image_root) for d in dataset] + [f"dataset.root={image_root}"] * (
        "dataset.root" not in " ".join(dataset)
    )
    common += [*SMALL, "trainer.eval_every=3"]
    train(make_cfg(*common, "trainer.steps=8"), tmp_path / "whole")
    train(make_cfg(*common, "trainer.steps=4"), tmp_path / "split")
    train(make_cfg(*common, "trainer.steps=8"), tmp_path / "split")
    whole, split = load_state(tmp_path / "whole"), load_state(tmp_path / "split")
    assert_same_tensors(
        whole["objects"], split["objects"]
    )  # G, D (BN statistics too), optimizers, data


@pytest.mark.slow
def test_the_cli_trains_resumes_elsewhere_and_samples_without_the_data(tmp_path):
    """A relative dataset.root means the directory the run started in, also when it is resumed from
    elsewhere; gan-runner-sample needs only the run directory."""
    from fixtures import make_mnist

    start, elsewhere = tmp_path / "lab", tmp_path / "elsewhere"
    make_mnist(start / "data", folder="FashionMNIST")
    elsewhere.mkdir()
    run = start / "run"
    run_cli(
        "dataset=fashion_mnist",
        "dataset.root=data",
        *SMALL,
        "trainer.steps=6",
        "trainer.device=cpu",
        "hydra.run.dir=run",
        cwd=start,
        check=True,
    )
    run_cli(f"resume={run}", "trainer.steps=9", cwd=elsewhere, check=True)
    assert json.loads((run / "results.json").read_text())["step"] == 9

    (start / "data").rename(start / "moved")
    run_cli(
        str(run),
        "--num",
        "10",
        "--out",
        str(tmp_path / "s.png"),
        cwd=elsewhere,
        tool="gan-runner-sample",
        check=True,
    )
    assert np.asarray(Image.open(tmp_path / "s.png")).shape == (
        3 * 28 + 4 * 2,
        4 * 28 + 5 * 2,
        3,
    )  # 4 per row
    run_cli(
        str(run),
        "--num",
        "300",
        "--out",
        str(tmp_path / "s.npy"),
        cwd=elsewhere,
        tool="gan-runner-sample",
        check=True,
    )
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (300, 1, 28, 28) and -1 <= x.min() and x.max() <= 1
