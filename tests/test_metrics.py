"""Evaluation metrics: Fréchet distance, the statistics cache, Inception and classifier features,
Inception score, Parzen windows, stacked-MNIST modes, and the evaluation CLI."""

import json
import math
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import evaluated_samples, make_cfg, metrics_classifier, run_cli
from fixtures import make_mnist
from gan_runner.data.images import torchvision_images
from gan_runner.errors import UserError
from gan_runner.metrics import TRAINING, cache
from gan_runner.metrics.classifier import MLPClassifier, accuracy, load_or_train, train
from gan_runner.metrics.frechet import frechet_distance, statistics
from gan_runner.metrics.inception_score import inception_score
from gan_runner.metrics.modes import stacked_modes
from gan_runner.metrics.parzen import parzen


def gaussian_fd_diagonal(mu1, var1, mu2, var2):
    """Closed form for diagonal covariances: ‖μ1 − μ2‖² + Σ (σ1 + σ2 − 2 √(σ1 σ2))."""
    return float(((mu1 - mu2) ** 2).sum() + (var1 + var2 - 2 * np.sqrt(var1 * var2)).sum())


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    var1, var2 = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(
        gaussian_fd_diagonal(mu1, var1, mu2, var2), rel=1e-10
    )
    # rotating both Gaussians by the same orthogonal matrix changes nothing
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert frechet_distance(
        q @ mu1, q @ np.diag(var1) @ q.T, q @ mu2, q @ np.diag(var2) @ q.T
    ) == pytest.approx(gaussian_fd_diagonal(mu1, var1, mu2, var2), rel=1e-9)
    # a set of (correlated) features against itself: 0; against a shifted copy, whose covariance is
    # the same: ‖shift‖²
    a = rng.normal(size=(200, 8)) @ rng.normal(size=(8, 8))
    shift = rng.normal(size=8)
    mu, sigma = statistics(a)
    assert frechet_distance(mu, sigma, *statistics(a)) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(mu, sigma, *statistics(a + shift)) == pytest.approx(
        shift @ shift, rel=1e-9
    )
    assert frechet_distance(*statistics(a - shift), mu, sigma) == pytest.approx(
        shift @ shift, rel=1e-9
    )


def test_frechet_distance_rank_deficient():
    # each Gaussian lives on its own axis: tr(√(Σ1Σ2)) = 0, d² = ‖Δμ‖² + 1 + 1
    s1, s2 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    assert frechet_distance(np.zeros(2), s1, np.ones(2), s2) == pytest.approx(4.0, abs=1e-12)
    # fewer samples than dimensions: singular covariances; against the trace of SciPy's sqrtm
    from scipy import linalg

    rng = np.random.default_rng(1)
    (mu1, s1), (mu2, s2) = (
        statistics(rng.normal(size=(10, 64))),
        statistics(rng.normal(size=(10, 64))),
    )
    reference = (
        ((mu1 - mu2) ** 2).sum()
        + np.trace(s1)
        + np.trace(s2)
        - 2 * np.trace(linalg.sqrtm(s1 @ s2)).real
    )
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)
    assert (
        frechet_distance(np.zeros(2), s1[:2, :2] * 0, np.zeros(2), s1[:2, :2] * 0) == 0.0
    )  # never below 0


def test_frechet_distance_agrees_with_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(2)
    for dims in (4, 32):
        f1, f2 = (
            rng.normal(size=(500, dims)),
            0.5 + 1.3 * rng.normal(size=(500, dims)) @ rng.normal(size=(dims, dims)),
        )
        ours = frechet_distance(*statistics(f1), *statistics(f2))
        assert ours == pytest.approx(
            calculate_frechet_distance(*statistics(f1), *statistics(f2)), rel=1e-6
        )


def _compute_slowly(path: str, counter: str) -> None:
    def compute():
        with open(counter, "a") as f:
            f.write("computed\n")
        time.sleep(1.0)
        return {"mu": np.arange(1000.0)}

    value = cache.get_or_compute(
        Path(path), {"k": 1}, compute, lambda v, f: np.savez(f, **v), lambda p: dict(np.load(p))
    )
    assert np.array_equal(value["mu"], np.arange(1000.0))  # a whole file, in every process


@pytest.mark.slow
def test_statistics_cache(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"mu": np.ones(3)}

    def get(key):
        path = cache.entry(tmp_path, "stats", key, ".npz")
        return path, cache.get_or_compute(
            path, key, compute, lambda v, f: np.savez(f, **v), lambda p: dict(np.load(p))
        )

    p1, v1 = get({"dataset": "a", "n": 10})
    p2, v2 = get({"dataset": "a", "n": 10})
    assert len(calls) == 1 and p1 == p2 and np.array_equal(v1["mu"], v2["mu"])  # miss, then hit
    p3, _ = get({"dataset": "a", "n": 11})
    p4, _ = get({"n": 10, "dataset": "b"})
    assert len(calls) == 3 and len({p1, p3, p4}) == 3  # other keys, other files
    assert json.loads(p1.with_suffix(".json").read_text()) == {"dataset": "a", "n": 10}

    # two processes at once: one computes, both read the whole file
    path, counter = str(tmp_path / "shared.npz"), str(tmp_path / "counter")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_compute_slowly, args=(path, counter)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert Path(counter).read_text() == "computed\n"


def random_fid_inception_weights(path: Path) -> Path:
    """A state dict of pytorch-fid's FID Inception architecture with random weights (the real file
    cannot be fetched here): built as pytorch-fid's fid_inception_v3 builds it, without loading."""
    from pytorch_fid import inception as pf

    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = (
        pf.FIDInceptionA(192, 32),
        pf.FIDInceptionA(256, 64),
        pf.FIDInceptionA(288, 64),
    )
    net.Mixed_6b, net.Mixed_6c = pf.FIDInceptionC(768, 128), pf.FIDInceptionC(768, 160)
    net.Mixed_6d, net.Mixed_6e = pf.FIDInceptionC(768, 160), pf.FIDInceptionC(768, 192)
    net.Mixed_7b, net.Mixed_7c = pf.FIDInceptionE_1(1280), pf.FIDInceptionE_2(2048)
    torch.save(net.state_dict(), path)
    return path


def test_inception_features_with_random_weights(tmp_path):
    from gan_runner.metrics.inception import FIDInception

    model = FIDInception(str(random_fid_inception_weights(tmp_path / "w.pth"))).eval()
    with torch.no_grad():
        for shape in ((2, 1, 28, 28), (2, 3, 32, 32)):
            features, logits = model.embed(torch.rand(*shape))
            assert features.shape == (2, 2048) and logits.shape == (2, 1008)
            assert torch.isfinite(features).all() and (features >= 0).all()  # pool3 follows a ReLU


def test_missing_inception_weights_is_a_clear_error(tmp_path):
    from gan_runner.metrics.inception import FIDInception

    with pytest.raises(
        UserError, match=r"The FID Inception weights are not at .*nothing\.pth.*Download https://"
    ):
        FIDInception(str(tmp_path / "nothing.pth"))


def test_classifier_learns_fixture_digits_and_its_features_feed_fid(tmp_path):
    make_mnist(tmp_path, n_train=3000, n_test=500)
    train_data = torchvision_images("mnist", str(tmp_path), False, "train", [0.0, 1.0], None)
    test_data = torchvision_images("mnist", str(tmp_path), False, "test", [0.0, 1.0], None)
    torch.manual_seed(0)
    model = train(train_data, epochs=10, batch_size=128, lr=1e-3)
    # Lookahead-Minmax's MNIST classifier: 784-256-256-10, ReLU, dropout 0.2; features before the 2nd ReLU
    assert isinstance(model, MLPClassifier)
    assert [(m.in_features, m.out_features) for m in (model.fc1, model.fc2, model.out)] == [
        (784, 256),
        (256, 256),
        (256, 10),
    ]
    assert model.drop.p == 0.2
    with torch.no_grad():
        f, logits = model.embed(train_data.gather(torch.arange(50)).float() / 255)
    assert f.shape == (50, 256) and (f < 0).any()  # pre-ReLU
    torch.testing.assert_close(logits, model(train_data.gather(torch.arange(50)).float() / 255))
    assert accuracy(model, test_data) >= 0.90  # rendered digits, 3000 for training; measured 94.6%

    def feats(x):
        with torch.no_grad():
            return model.embed(x)[0].double().numpy()

    real_train = feats(train_data.gather(torch.arange(1000)).float() / 255)
    real_test = feats(test_data.gather(torch.arange(500)).float() / 255)
    noise = feats(torch.rand(500, 1, 28, 28))
    reference = statistics(real_train)
    assert feats(torch.zeros(1, 1, 28, 28)).shape == (1, 256)
    assert frechet_distance(*statistics(real_test), *reference) * 10 < frechet_distance(
        *statistics(noise), *reference
    )


def splits(dataset_cfg):
    from gan_runner.evaluation import labelled_splits

    return labelled_splits(dataset_cfg, torch.device("cpu"))


def test_the_classifier_is_cached_by_data_content(tmp_path):
    root = tmp_path / "data"
    make_mnist(root, n_train=400, n_test=100)
    cfg = make_cfg("dataset=mnist", f"dataset.root={root}", "model=dcgan").dataset
    torch.manual_seed(123)
    state = torch.get_rng_state()
    m1, acc1, key1 = load_or_train(
        splits(cfg), tmp_path / "cache", torch.device("cpu"), 2, 128, 1e-3
    )
    assert torch.equal(
        torch.get_rng_state(), state
    )  # training it drew nothing from the caller's RNG
    m2, acc2, key2 = load_or_train(
        splits(cfg), tmp_path / "cache", torch.device("cpu"), 2, 128, 1e-3
    )  # a hit
    assert (acc1, key1) == (acc2, key2) and len(
        list((tmp_path / "cache").glob("classifier-mnist-*.pt"))
    ) == 1
    m3, _, _ = load_or_train(
        splits(cfg), tmp_path / "other-cache", torch.device("cpu"), 2, 128, 1e-3
    )  # trained again
    assert all(
        torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m3.state_dict().values())
    )  # seeded
    torchvision_images.__globals__["load"].cache_clear()
    make_mnist(root, n_train=400, n_test=100, seed=5)  # other digits: another classifier
    _, _, key3 = load_or_train(splits(cfg), tmp_path / "cache", torch.device("cpu"), 2, 128, 1e-3)
    assert key3["train_sha1"] != key1["train_sha1"]


def test_a_cold_or_warm_cache_trains_the_same_run(image_root, tmp_path):
    """Building the metrics (training the classifier, the reference statistics) leaves the run's RNG
    alone: a run trains on the same numbers whether its cache was cold or warm."""
    from conftest import assert_same_tensors, load_state
    from gan_runner.trainer import train as train_run

    common = [
        "dataset=mnist",
        f"dataset.root={image_root}",
        "model=dcgan",
        "model.width=8",
        "model.z_dim=16",
        "trainer.batch_size=16",
        "trainer.steps=3",
        "metrics.n_samples=64",
        "metrics.classifier.epochs=1",
        f"metrics.cache_dir={tmp_path / 'cache'}",
    ]
    for name in ("cold", "warm"):
        train_run(make_cfg(*common), tmp_path / name)
    assert (
        len(list((tmp_path / "cache").glob("stats-classifier-*.npz"))) == 1
    )  # the warm run hit the cache
    assert_same_tensors(
        load_state(tmp_path / "cold")["objects"], load_state(tmp_path / "warm")["objects"]
    )
    # other images (here: another resolution) are other statistics
    train_run(make_cfg(*common, "dataset.resolution=32"), tmp_path / "r32")
    assert len(list((tmp_path / "cache").glob("stats-classifier-*.npz"))) == 2


@pytest.mark.parametrize("classes", [2, 10, 100])
def test_inception_score_of_known_predictions(classes):
    n = 10 * classes  # every split of the 10 holds every class equally often
    assert inception_score(np.full((n, classes), 1 / classes)) == pytest.approx(
        (1.0, 0.0)
    )  # no confidence
    one_hot = np.eye(classes)[np.arange(n) % classes]
    assert inception_score(one_hot) == pytest.approx((classes, 0.0), rel=1e-9)  # confident, diverse
    assert inception_score(one_hot[np.zeros(n, dtype=int)]) == pytest.approx(
        (1.0, 0.0)
    )  # confident, collapsed
    # half sure: p(y|x) = ½ one-hot + ½ uniform, classes balanced: exp KL(p(y|x) ‖ uniform)
    sure, rest = 0.5 + 0.5 / classes, 0.5 / classes
    expected = np.exp(sure * np.log(classes * sure) + (classes - 1) * rest * np.log(classes * rest))
    assert inception_score(0.5 * one_hot + 0.5 / classes) == pytest.approx(
        (expected, 0.0), rel=1e-9
    )


def test_parzen_recovers_a_gaussians_log_likelihood():
    """Samples and test points from N(0, s²I) in 2-D: the Parzen estimate approaches the true mean
    log-likelihood, E log N(x; 0, s²I) = −log(2πs²) − 1."""
    gen = torch.Generator().manual_seed(0)
    s = 0.5
    samples, validation, test = (s * torch.randn(n, 2, generator=gen) for n in (10_000, 1000, 5000))
    result = parzen(samples, validation, test)
    truth = -math.log(2 * math.pi * s**2) - 1
    assert result["parzen"] == pytest.approx(truth, abs=0.05)  # kernel bias ≈ 0.02 nats at σ = 0.1
    assert result["parzen_sigma"] == pytest.approx(0.1, rel=0.3) and result["parzen_se"] < 0.05


def test_stacked_mnist_counting():
    every_mode = torch.stack(
        [torch.arange(1000) // 100, torch.arange(1000) // 10 % 10, torch.arange(1000) % 10], 1
    )
    assert stacked_modes(every_mode) == {
        "stacked_modes": 1000,
        "stacked_kl": pytest.approx(0.0, abs=1e-12),
    }
    ten = every_mode[:10].repeat(50, 1)  # 10 modes, equally often
    assert stacked_modes(ten) == {"stacked_modes": 10, "stacked_kl": pytest.approx(math.log(100))}
    skewed = torch.cat([every_mode[:1].repeat(3, 1), every_mode[1:2]])  # p = (3/4, 1/4) on 2 modes
    expected = 0.75 * math.log(750) + 0.25 * math.log(250)
    assert stacked_modes(skewed)["stacked_kl"] == pytest.approx(expected)


@pytest.mark.slow
def test_evaluation_in_a_run_and_afterwards(image_root, tmp_path):
    """A DCGAN run on MNIST files logs classifier FID and IS (metrics=auto); stacked MNIST its modes;
    gan-runner-eval scores a finished run with other metrics."""
    small = [
        "model=dcgan",
        "model.width=8",
        "model.z_dim=16",
        "trainer.batch_size=16",
        "trainer.steps=4",
        "trainer.eval_every=2",
        "metrics.n_samples=200",
        "metrics.classifier.epochs=2",
        "trainer.device=cpu",
    ]
    run = tmp_path / "run"
    run_cli(
        "dataset=mnist",
        f"dataset.root={image_root}",
        *small,
        f"hydra.run.dir={run}",
        cwd=tmp_path,
        check=True,
    )
    results = json.loads((run / "results.json").read_text())
    assert [sorted(set(h) - set(TRAINING)) for h in results["history"]] == [
        ["fid_classifier", "fid_classifier_floor", "is_classifier", "is_classifier_std", "step"]
    ] * 2
    assert "classifier_accuracy" in (run / "train.log").read_text()
    proc = run_cli(
        str(run),
        "metrics.names=[parzen,is_classifier]",
        cwd=tmp_path,
        tool="gan-runner-eval",
        check=True,
    )
    report = json.loads((run / "eval.json").read_text())
    assert report["step"] == 4 and {"parzen", "parzen_se", "parzen_sigma", "is_classifier"} <= set(
        report["metrics"]
    )
    assert json.loads(proc.stdout) == {"step": 4, "metrics": report["metrics"]}
    # a second evaluation of other metrics adds to eval.json: nothing the first one wrote is lost
    more = ["metrics.names=[fid_classifier,kid_classifier,prc_classifier]"]
    more += ["metrics.kid.subset_size=100"]
    run_cli(str(run), *more, cwd=tmp_path, tool="gan-runner-eval", check=True)
    again = json.loads((run / "eval.json").read_text())
    added = set(again["metrics"]) - set(report["metrics"])
    assert added == {
        "fid_classifier",
        "fid_classifier_floor",
        "kid_classifier_mean",
        "kid_classifier_std",
        *(f"{v}_classifier" for v in ("precision", "recall", "f_score", "density", "coverage")),
    }
    assert again["metrics"] == {**report["metrics"], **{k: again["metrics"][k] for k in added}}
    assert [e["overrides"] for e in again["evaluations"]] == [
        ["metrics.names=[parzen,is_classifier]"],
        more,
    ]
    # each value with its protocol; the run's and the evaluation's FID were measured alike
    assert set(again["protocol"]) == set(again["metrics"])
    (segment,) = results["protocols"]
    assert segment["from_step"] == 2
    assert segment["values"]["fid_classifier"] == again["protocol"]["fid_classifier"]
    kid_protocol = again["protocol"]["kid_classifier_mean"]
    assert kid_protocol["generated"] == kid_protocol["reference"] == 200
    assert kid_protocol["kid_subset_size"] == 100 and len(kid_protocol["weights_sha256"]) == 64

    stacked, overrides = (
        tmp_path / "stacked",
        [
            "dataset=stacked_mnist",
            f"dataset.root={image_root}",
            "dataset.size=500",
            *small,
            "metrics.stacked_n_samples=300",
        ],
    )
    run_cli(*overrides, f"hydra.run.dir={stacked}", cwd=tmp_path, check=True)
    final = json.loads((stacked / "results.json").read_text())["final"]
    # the modes of the evaluated generator's 300 samples (of the 300 noise vectors drawn), recounted
    # from the checkpoint (after 4 steps they may all be one mode: test_stacked_modes_of_real_images
    # counts many)
    assert {k: v for k, v in final.items() if k not in TRAINING} == stacked_recount(
        metrics_classifier(make_cfg(*overrides)), evaluated_samples(stacked, 300)
    )


def stacked_recount(classifier, unit_images: torch.Tensor) -> dict:
    """Stacked-MNIST modes of images in [0, 1], independently of the Evaluator: each channel's digit
    by the MNIST classifier, the histogram by NumPy, KL(histogram ‖ uniform over 1000)."""
    with torch.no_grad():
        digits = torch.stack(
            [classifier(unit_images[:, c : c + 1]).argmax(1) for c in range(3)], 1
        ).numpy()
    modes, counts = np.unique(digits, axis=0, return_counts=True)
    p = counts / counts.sum()
    return {
        "stacked_modes": len(modes),
        "stacked_kl": pytest.approx((p * np.log(1000 * p)).sum(), rel=1e-9),
    }


def test_stacked_modes_of_real_images(image_root):
    """The Evaluator's count when G's samples are 300 real stacked-MNIST images, in order."""
    from gan_runner.evaluation import Evaluator
    from gan_runner.game import dataset

    cfg = make_cfg(
        "dataset=stacked_mnist",
        f"dataset.root={image_root}",
        "dataset.size=500",
        "model=dcgan",
        "metrics.stacked_n_samples=300",
        "metrics.classifier.epochs=2",
    )
    data = dataset(cfg, torch.device("cpu"))
    images = data.scale(data.gather(torch.arange(300)))

    class Replay(torch.nn.Module):
        """A generator whose samples are `images`, chunk after chunk."""

        shown = 0

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            self.shown += len(z)
            return images[self.shown - len(z) : self.shown]

    counted = Evaluator(cfg, data, torch.device("cpu")).stacked_modes(Replay(), "classifier")
    expected = stacked_recount(metrics_classifier(cfg), (images + 1) / 2)
    assert (
        expected["stacked_modes"] > 10
    )  # many modes (27): a mix-up of the channels would change the count
    assert counted == expected


def test_a_papers_classifier_weights_file(tmp_path, image_root):
    """metrics.classifier.weights_path: Lookahead-Minmax's MLP_mnist state dict (keys under 'model.',
    inputs in [0, 1]) or the runner's (centred inputs), loaded with weights_only and checked; the
    evaluation then uses it, and its reference statistics are keyed by the file."""
    from gan_runner.evaluation import Evaluator
    from gan_runner.game import dataset
    from gan_runner.metrics.classifier import read_weights

    torch.manual_seed(0)
    ours = MLPClassifier((1, 28, 28))
    authors = {
        f"model.{k}": v for k, v in ours.state_dict().items()
    }  # their nn.Sequential named `model`
    torch.save(authors, tmp_path / "mnist.pth")
    torch.save({f"module.{k}": v for k, v in ours.state_dict().items()}, tmp_path / "parallel.pth")
    x = torch.rand(5, 1, 28, 28)
    theirs = read_weights(str(tmp_path / "mnist.pth"))
    w = ours.state_dict()
    expected = (x.flatten(1) @ w["fc1.weight"].T + w["fc1.bias"]).relu() @ w["fc2.weight"].T + w[
        "fc2.bias"
    ]
    torch.testing.assert_close(
        theirs.features(x), expected
    )  # [0, 1] inputs as they are: their ToTensor
    torch.testing.assert_close(
        read_weights(str(tmp_path / "parallel.pth")).features(x), ours.eval().features(x)
    )

    torch.save({"fc1.weight": torch.zeros(256, 100)}, tmp_path / "other.pth")

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "ran",))

    torch.save({"fc1.weight": Payload()}, tmp_path / "code.pth")
    for name, message in (
        ("missing.pth", "no such file"),
        ("other.pth", "not the MLP 784-256-256-10"),
        ("code.pth", "not a PyTorch state dict of tensors"),
    ):
        with pytest.raises(UserError, match=message):
            read_weights(str(tmp_path / name))
    assert not (tmp_path / "ran").exists()  # the file's code never ran

    cfg = make_cfg(
        "dataset=mnist",
        f"dataset.root={image_root}",
        "model=dcgan",
        "metrics.names=[fid_classifier]",
        f"metrics.classifier.weights_path={tmp_path / 'mnist.pth'}",
        f"metrics.cache_dir={tmp_path / 'cache'}",
        "metrics.n_samples=100",
    )
    evaluator = Evaluator(cfg, dataset(cfg, torch.device("cpu")), torch.device("cpu"))
    assert evaluator.networks["classifier"].shift == 0.0 and not list(
        (tmp_path / "cache").glob("classifier-*.pt")
    )
    stats = list((tmp_path / "cache").glob("stats-classifier-*.json"))
    assert len(stats) == 1 and json.loads(stats[0].read_text())["network"]["classifier"] == "file"


def test_saturation_by_hand():
    """For one sample, G's gradient is ∂l/∂θ times −D(G(z)) under the minimax loss and −(1 − D(G(z)))
    under the non-saturating one: their ratio is D/(1 − D) = e^l exactly (Goodfellow et al. 2014, §3)."""
    from torch import nn

    from gan_runner import losses
    from gan_runner.metrics.saturation import saturation

    torch.manual_seed(0)
    G, D = nn.Linear(3, 2), nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.5), nn.Flatten(0))
    z = torch.randn(1, 3)
    state = torch.get_rng_state()
    out = saturation(G, D, z, losses.minimax().g)
    assert (
        torch.equal(torch.get_rng_state(), state) and G.training and D.training
    )  # no dropout draw, modes back
    D.eval()
    logit = D(G(z)).item()
    assert out["d_fake"] == pytest.approx(torch.sigmoid(torch.tensor(logit)).item())
    assert out["saturation_ratio"] == pytest.approx(math.exp(logit), rel=1e-5)
    assert out["g_grad"] == out["g_grad_minimax"] and all(p.grad is None for p in G.parameters())


def test_every_registry_entry_has_what_computes_it():
    from gan_runner.evaluation import COMPUTE
    from gan_runner.metrics import METRICS

    assert {m.compute for m in METRICS.values()} == COMPUTE.keys()


def test_values_are_shown_with_what_they_count_in():
    """The console says what a number is: modes out of how many, a percentage, nats."""
    from gan_runner.metrics import shown

    assert shown("modes", 3, {"modes_total": 8}) == "modes 3/8"
    assert shown("modes_no_ema", 3, {"modes_total": 8}) == "modes_no_ema 3/8"
    assert shown("high_quality", 41.25) == "high_quality 41.25%"
    assert shown("kl", 0.19) == "kl 0.19 nats"
    assert shown("stacked_modes", 997) == "stacked_modes 997/1000"
    assert shown("fid_classifier", 12.5) == "fid_classifier 12.5"
