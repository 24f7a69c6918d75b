"""KID, precision/recall, density/coverage: their arithmetic against torch-fidelity's and the
authors' (prdc), their behaviour on sets whose answer is known, each value's protocol in the
records (and the tables and reproductions refusing to pool values of different protocols), and
gan-runner-eval --images on real digits and on noise."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_cfg, run_cli
from gan_runner.errors import UserError
from gan_runner.metrics import METRIC_OF, METRICS, VALUES
from gan_runner.metrics.frechet import frechet_distance, statistics
from gan_runner.metrics.inception_score import inception_score
from gan_runner.metrics.kid import kid
from gan_runner.metrics.manifold import manifold, radii
from gan_runner.run_dir import add_protocols, protocol_at
from gan_runner.tables import MixedSettings, protocols_mixed, table


def gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, d)) * scale + shift).astype(np.float32)


# --- KID ------------------------------------------------------------------------------------------


def test_kid_of_a_set_against_itself_is_about_zero_and_grows_with_a_shift():
    x, y = gaussian(2000, 32, 0), gaussian(2000, 32, 1)
    # unbiased: two sets of one distribution score 0 within the subsets' standard error
    same = kid(x, y, subsets=100, subset_size=500)
    assert abs(same["mean"]) < 3 * same["std"] / 100**0.5
    itself = kid(x, x, subsets=100, subset_size=500)  # its subsets share samples: slightly below 0
    assert abs(itself["mean"]) < 0.01
    means = [kid(x + s, x, 100, 500)["mean"] for s in (0.2, 0.5, 1.0)]
    assert means == sorted(means) and means[0] > 5 * max(abs(itself["mean"]), same["std"])


def test_kid_equals_torch_fidelitys_on_the_same_features():
    from torch_fidelity.metric_kid import kid_features_to_metric

    a, b = gaussian(1500, 64, 1), gaussian(1200, 64, 2, shift=0.1, scale=1.2)
    ours = kid(a, b, subsets=50, subset_size=1000)
    theirs = kid_features_to_metric(
        torch.from_numpy(a),
        torch.from_numpy(b),
        kid_subsets=50,
        kid_subset_size=1000,
        rng_seed=2020,
        verbose=False,
    )
    assert ours == {
        "mean": theirs["kernel_inception_distance_mean"],
        "std": theirs["kernel_inception_distance_std"],
    }


def test_kid_with_fewer_samples_than_its_subset_is_one_paragraph():
    with pytest.raises(UserError, match="subsets of 1000 .* 999 generated"):
        kid(gaussian(999, 4, 0), gaussian(2000, 4, 1), subsets=10, subset_size=1000)


# --- precision / recall, density / coverage ---------------------------------------------------------


def test_precision_of_a_subset_of_the_reference_is_one():
    real = torch.from_numpy(gaussian(1000, 16, 3))
    out = manifold(real[:400], real)
    assert out["precision"] == 1.0


def test_recall_of_one_mode_of_a_two_mode_reference_is_about_a_half():
    a, b = gaussian(1000, 8, 4), gaussian(1000, 8, 5, shift=20.0)
    real = torch.from_numpy(np.concatenate([a, b]))
    one_mode = torch.from_numpy(gaussian(1000, 8, 6))  # new samples of the first mode only
    out = manifold(one_mode, real)
    assert out["recall"] == pytest.approx(0.5, abs=0.05)
    assert out["precision"] > 0.8  # k-NN balls cover most, not all, of one distribution's samples
    assert out["coverage"] == pytest.approx(0.5, abs=0.05)
    both = manifold(
        torch.from_numpy(np.concatenate([gaussian(500, 8, 7), gaussian(500, 8, 8, 20.0)])), real
    )
    assert both["recall"] > 0.8 and both["coverage"] > 0.8  # half as many samples: not all balls
    assert both["density"] == pytest.approx(1.0, abs=0.15)  # identical distributions: about 1


def test_precision_recall_equal_torch_fidelitys_and_density_coverage_the_authors():
    from prdc import compute_prdc
    from torch_fidelity.metric_prc import prc_features_to_metric

    fake = torch.from_numpy(gaussian(700, 32, 9))
    real = torch.from_numpy(gaussian(900, 32, 10, shift=0.3, scale=1.3))
    ours = manifold(fake, real, k=3, dc_k=5)
    theirs = prc_features_to_metric(fake, real, prc_neighborhood=3, verbose=False)
    # the same samples inside each ball: the fractions equal up to torch-fidelity's float32 mean
    assert round(ours["precision"] * 700) == round(theirs["precision"] * 700)
    assert round(ours["recall"] * 900) == round(theirs["recall"] * 900)
    assert {k: ours[k] for k in theirs} == pytest.approx(theirs, rel=1e-6)
    # Naeem et al.'s prdc (float64 distances): density and coverage at its k = 5
    authors = compute_prdc(real.double().numpy(), fake.double().numpy(), nearest_k=5)
    ours64 = manifold(fake.double(), real.double(), k=3, dc_k=5)
    assert ours64["density"] == pytest.approx(authors["density"], rel=1e-12)
    assert ours64["coverage"] == pytest.approx(authors["coverage"], rel=1e-12)
    # the reference's radii, computed once and passed in, change nothing
    assert manifold(fake, real, 3, 5, radii(real, (3, 5))) == ours


def test_manifold_in_blocks_is_the_whole_matrix(monkeypatch):
    """Large sets go a block of rows at a time (torch-fidelity's prc_batch_size): the same numbers."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    from gan_runner.metrics import manifold as module

    fake = torch.from_numpy(gaussian(1100, 16, 12))
    real = torch.from_numpy(gaussian(1300, 16, 13, scale=1.2))
    whole = manifold(fake, real)
    monkeypatch.setattr(module, "BLOCK", 250)
    assert manifold(fake, real) == whole
    theirs = prc_features_to_metric(fake, real, prc_batch_size=250, verbose=False)
    assert round(whole["recall"] * 1300) == round(theirs["recall"] * 1300)
    assert round(whole["precision"] * 1100) == round(theirs["precision"] * 1100)


def test_manifold_with_no_more_samples_than_k_is_one_paragraph():
    x = torch.from_numpy(gaussian(3, 4, 0))
    with pytest.raises(UserError, match="more than k = 3 samples in each set, and one has 3"):
        manifold(x, torch.from_numpy(gaussian(100, 4, 1)))


# --- the runner's own arithmetic where it keeps it ------------------------------------------------


def test_frechet_distance_and_inception_score_agree_with_torch_fidelity():
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric

    for dims in (8, 64):
        f1, f2 = gaussian(800, dims, dims), gaussian(900, dims, dims + 1, shift=0.4, scale=1.5)
        s1, s2 = statistics(f1), statistics(f2)
        theirs = fid_statistics_to_metric(
            {"mu": s1[0], "sigma": s1[1]}, {"mu": s2[0], "sigma": s2[1]}, verbose=False
        )
        assert frechet_distance(*s1, *s2) == pytest.approx(
            theirs["frechet_inception_distance"], rel=1e-6
        )
    logits = torch.from_numpy(gaussian(1000, 10, 11, scale=3.0))
    score, std = inception_score(logits.softmax(1).double().numpy())
    theirs = isc_features_to_metric(logits, splits=10, shuffle=False)
    assert (score, std) == pytest.approx(
        (theirs["inception_score_mean"], theirs["inception_score_std"]), rel=1e-6
    )


# --- the registry, the config -----------------------------------------------------------------------


def test_the_metrics_of_a_folder_follow_the_data():
    from gan_runner.metrics import for_images

    classifier = ["fid_classifier", "is_classifier", "kid_classifier", "prc_classifier"]
    inception = ["fid_inception", "is_inception", "kid_inception", "prc_inception"]
    assert for_images("digits", False) == classifier
    assert for_images("photos", True) == for_images("stacked_digits", True) == inception
    assert for_images("unlabelled", False) == [m for m in inception if m != "is_inception"]
    assert for_images("mixture", True) == []


def test_registry_entries_and_objective():
    for network in ("classifier", "inception"):
        assert set(METRICS[f"kid_{network}"].values) == {
            f"kid_{network}_mean",
            f"kid_{network}_std",
        }
        assert set(METRICS[f"prc_{network}"].values) == {
            f"{v}_{network}" for v in ("precision", "recall", "f_score", "density", "coverage")
        }
        assert VALUES[f"kid_{network}_mean"].higher_is_better is False
        assert VALUES[f"precision_{network}"].higher_is_better is True
        assert METRIC_OF[f"recall_{network}_no_ema"] == f"prc_{network}"
    from gan_runner.objective import task_objective
    from gan_runner.preflight import check

    cfg = make_cfg(
        "dataset=mnist",
        "metrics.names=[kid_classifier,prc_classifier]",
        "metrics.kid.subset_size=100",
        "metrics.objective=recall_classifier",
    )
    check(cfg, scope="config")
    assert task_objective(cfg) == "recall_classifier"
    assert task_objective(make_cfg("dataset=mnist", "metrics.names=[kid_classifier]")) == (
        "kid_classifier_mean"
    )


@pytest.mark.parametrize(
    "overrides, said",
    [
        (
            ["metrics.names=[kid_classifier]", "metrics.n_samples=500"],
            "metrics.kid.subset_size=1000",
        ),
        (["metrics.names=[prc_classifier]", "metrics.n_samples=5"], "5-th nearest neighbour"),
    ],
)
def test_too_few_samples_for_kid_or_prc_is_refused_before_anything(overrides, said):
    from gan_runner.preflight import check

    with pytest.raises(UserError, match=said.replace("[", r"\[")):
        check(make_cfg("dataset=mnist", *overrides), scope="config")


# --- protocols --------------------------------------------------------------------------------------


def test_protocol_segments():
    segments: list = []
    p1, p2 = {"fid": {"generated": 100}}, {"fid": {"generated": 200}}
    add_protocols(segments, 10, p1)
    add_protocols(segments, 20, p1)  # the same: no new segment
    add_protocols(segments, 30, p2)
    assert segments == [{"from_step": 10, "values": p1}, {"from_step": 30, "values": p2}]
    assert protocol_at(segments, 20) == p1 and protocol_at(segments, None) == p2
    assert protocol_at([], 5) == {}


def _record(seed: int, protocol: dict | None, value: float = 1.0) -> dict:
    return {
        "dir": f"/runs/{seed}",
        "overrides": {"trainer.seed": str(seed)},
        "choices": {},
        "config": {},
        "status": "completed",
        "step": 100,
        "final": {"fid_classifier": value},
        "best": {"step": 100, "metrics": {"fid_classifier": value}},
        "protocols": [{"from_step": 100, "values": {"fid_classifier": protocol}}]
        if protocol
        else [],
    }


def test_tables_refuse_to_pool_values_of_different_protocols():
    a = {"network": "classifier", "weights_sha256": "aa" * 32, "generated": 10000}
    b = {**a, "weights_sha256": "bb" * 32}
    same = [_record(0, a, 1.0), _record(1, dict(a), 3.0)]
    assert "2 ± 1.4 (n=2)" in table(same, None, None, "fid_classifier")
    for mixed in ([_record(0, a), _record(1, b)], [_record(0, a), _record(1, None)]):
        for best in (False, True):
            with pytest.raises(MixedSettings, match="different protocols") as e:
                table(mixed, None, None, "fid_classifier", best=best, pool=["trainer"])
    assert "protocol: recorded, not recorded (an older run)" in str(e.value)
    with pytest.raises(MixedSettings, match=r"weights_sha256: aaaa.*, bbbb"):
        table([_record(0, a), _record(1, b)], None, None, "fid_classifier")
    # records from before protocols were kept pool with each other, as before
    assert protocols_mixed([_record(0, None), _record(1, None)], "fid_classifier", False) is None


def test_the_best_evaluation_is_read_under_its_own_protocol():
    """A run resumed with other metrics.* settings: its best value keeps the protocol it was
    measured by, its final one the new one."""
    a = {"network": "classifier", "generated": 10000}
    resumed = _record(0, a, 5.0)
    resumed["protocols"].append(
        {"from_step": 300, "values": {"fid_classifier": {**a, "generated": 500}}}
    )
    resumed["best"]["step"] = 200
    other = _record(1, a, 7.0)
    assert "6 ± 1.4 (n=2)" in table([resumed, other], None, None, "fid_classifier", best=True)
    with pytest.raises(MixedSettings, match="generated: 500, 10000"):
        table([resumed, other], None, None, "fid_classifier")


def test_a_report_states_the_recorded_protocol():
    from gan_runner.reproduce.report import protocol_text

    a = {"network": "classifier", "weights_sha256": "ab" * 32, "generated": 10000}
    claim = {"metrics": ["fid_classifier"]}
    (head, _, line, _) = protocol_text(claim, [_record(0, a), _record(1, a)])
    assert head.startswith("**Protocol.**")
    assert (
        line == f"- fid_classifier: network classifier; weights_sha256 {'ab' * 32}; generated 10000"
    )
    assert "Not recorded" in protocol_text(claim, [_record(0, None)])[0]


def test_a_reproduction_refuses_runs_of_different_protocols():
    from gan_runner.reproduce.verdict import verdict

    a = {"network": "classifier", "generated": 10000}
    runs = [_record(0, a), _record(1, {**a, "generated": 5000})]
    claim = {"metrics": ["fid_classifier"], "rule": [], "rows": "trainer.seed"}
    with pytest.raises(UserError, match=r"Not judged: .*generated: 5000, 10000"):
        verdict(claim, runs)


@pytest.mark.slow
def test_results_and_resume_record_each_values_protocol(tmp_path):
    run = tmp_path / "run"
    common = ["dataset=ring", "trainer.eval_every=10", "trainer.log_every=10"]
    common += ["trainer.sample_every=1000", "trainer.ckpt_every=10", f"hydra.run.dir={run}"]
    run_cli(*common, "trainer.steps=20", "metrics.n_samples=100", cwd=tmp_path, check=True)
    results = json.loads((run / "results.json").read_text())
    (segment,) = results["protocols"]
    assert segment["from_step"] == 10
    assert set(segment["values"]) == set(results["final"]) - {
        k for k in results["final"] if k.startswith("train_")
    }
    assert segment["values"]["modes"]["generated"] == 100
    run_cli(f"resume={run}", "trainer.steps=40", "metrics.n_samples=200", cwd=tmp_path, check=True)
    results = json.loads((run / "results.json").read_text())
    assert [s["from_step"] for s in results["protocols"]] == [10, 30]
    assert results["protocols"][1]["values"]["kl"]["generated"] == 200


# --- a folder of images -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory):
    from gan_runner.data import digits

    return digits.write(tmp_path_factory.mktemp("mnist5k") / "mnist5k")


def _save(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.slow
def test_a_folder_of_real_digits_scores_better_than_one_of_noise(
    digits_root, tmp_path, monkeypatch
):
    """200 real test digits (spread over the test split) against 200 noise images, on the runner's
    classifier, offline: FID and KID lower, precision higher; each value with its protocol."""
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    raw = (digits_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").read_bytes()
    test = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    real = _save(tmp_path / "real", test[:: len(test) // 200][:200])
    rng = np.random.default_rng(0)
    noise = _save(tmp_path / "noise", rng.integers(0, 256, (200, 28, 28), dtype=np.uint8))
    scores = {}
    for name, folder in (("real", real), ("noise", noise)):
        out = tmp_path / f"{name}.json"
        run_cli(
            "--images",
            str(folder),
            "dataset=mnist",
            f"dataset.root={digits_root}",
            "metrics.kid.subset_size=100",
            "--out",
            str(out),
            cwd=tmp_path,
            tool="gan-runner-eval",
            check=True,
        )
        scores[name] = json.loads(out.read_text())
    r, n = scores["real"]["metrics"], scores["noise"]["metrics"]
    assert r["fid_classifier"] < n["fid_classifier"] / 10
    assert r["kid_classifier_mean"] < n["kid_classifier_mean"]
    assert r["precision_classifier"] > n["precision_classifier"] + 0.5
    assert r["is_classifier"] > 5 > n["is_classifier"]
    protocol = scores["real"]["protocol"]["kid_classifier_mean"]
    assert protocol["generated"] == 200 and protocol["reference"] == 200
    assert protocol["kid_subset_size"] == 100 and len(protocol["weights_sha256"]) == 64
    assert protocol["samples"].startswith("8-bit image files")


def _folder_problem(tmp_path, digits_root, folder, *extra) -> str:
    proc = run_cli(
        "--images",
        str(folder),
        "dataset=mnist",
        f"dataset.root={digits_root}",
        "metrics.names=[fid_classifier]",
        *extra,
        cwd=tmp_path,
        tool="gan-runner-eval",
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    return proc.stderr


@pytest.mark.slow
def test_bad_folders_get_one_paragraph(digits_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    grey = np.zeros((28, 28), np.uint8)
    (tmp_path / "empty").mkdir()
    one = _save(tmp_path / "one", [grey])
    mixed = _save(tmp_path / "mixed", [grey, grey])
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(mixed / "big.png")
    broken = _save(tmp_path / "broken", [grey, grey])
    (broken / "bad.png").write_bytes(b"not a png")
    small = _save(tmp_path / "small", [np.zeros((14, 14), np.uint8)] * 3)
    colour = _save(tmp_path / "colour", [np.dstack([grey, grey + 9, grey])] * 3)
    for folder, said in [
        (tmp_path / "empty", "no image files"),
        (one, "one image file"),
        (mixed, "2 sizes: 28x28"),
        (broken, "1 of 3 files cannot be read"),
        (small, "the images are 14x14, and mnist's reference images 28x28"),
        (colour, "a colour image"),
        (tmp_path / "nowhere", "not a directory"),
        (_save(tmp_path / "deep", [np.full((28, 28), 40000, np.uint16)] * 2), "not an 8-bit image"),
    ]:
        assert said in _folder_problem(tmp_path, digits_root, folder)
    ring = run_cli("--images", str(small), "dataset=ring", cwd=tmp_path, tool="gan-runner-eval")
    assert ring.returncode == 1 and "Traceback" not in ring.stderr
    assert "--images measures images, and" in ring.stderr
    # the reference: as many real training images as samples, which the data may not hold
    many = _save(tmp_path / "many", [grey] * 4100)
    too_few = _folder_problem(
        tmp_path,
        digits_root,
        many,
        "metrics.names=[kid_classifier]",
        "metrics.kid.subset_size=4050",
    )
    assert "the dataset holds 4000" in too_few
    # KID needs as many images as its subsets draw
    assert "subset_size=1000 samples from the 3 generated (metrics.n_samples; with --images" in (
        _folder_problem(tmp_path, digits_root, small, "metrics.names=[kid_classifier]")
    )


@pytest.mark.slow
def test_a_run_logs_kid_and_prc_and_tables_name_them_short(image_root, tmp_path):
    """KID and PRC during training: in results.json, in TensorBoard, and `gan-runner-table --metric
    kid_mean` finds the one network the run measured it on."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sweep = tmp_path / "sweep"
    run_cli(
        "-m", "dataset=mnist", f"dataset.root={image_root}", "model=dcgan", "model.width=8",
        "model.z_dim=16", "trainer.batch_size=16", "trainer.steps=2", "trainer.eval_every=2",
        "metrics.n_samples=200", "metrics.classifier.epochs=1", "metrics.kid.subset_size=100",
        "metrics.names=[kid_classifier,prc_classifier]", "metrics.objective=recall_classifier",
        "trainer.seed=0,1", f"hydra.sweep.dir={sweep}", f"metrics.cache_dir={tmp_path}/cache",
        cwd=tmp_path, check=True,
    )  # fmt: skip
    run = next(sweep.glob("0_*"))
    final = json.loads((run / "results.json").read_text())["final"]
    assert {"kid_classifier_mean", "precision_classifier", "coverage_classifier"} <= set(final)
    tags = EventAccumulator(str(run)).Reload().Tags()["scalars"]
    assert {"metrics/kid_classifier_mean", "metrics/density_classifier"} <= set(tags)
    proc = run_cli(str(sweep), "--metric", "kid_mean", cwd=tmp_path, tool="gan-runner-table")
    assert proc.returncode == 0, proc.stderr
    assert "final kid_classifier_mean: mean ± sample std" in proc.stdout and "(n=2)" in proc.stdout
    # a job's directory is named by its overrides ('='): gan-runner-eval takes it as a run
    assert "=" in run.name
    run_cli(
        str(run), "metrics.kid.subset_size=50", cwd=tmp_path, tool="gan-runner-eval", check=True
    )
    evaluated = json.loads((run / "eval.json").read_text())
    assert evaluated["protocol"]["kid_classifier_mean"]["kid_subset_size"] == 50
