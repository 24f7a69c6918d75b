"""checkpoints/best.pt: the run at its best evaluation (metrics.best), saved atomically each time an
evaluation improves on it, named in results.json, and read by gan-runner-sample/-eval --best."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import run_cli
from gan_runner import checkpoint
from gan_runner.cli import _compose
from gan_runner.evaluation import evaluated_generator
from gan_runner.run_dir import RunDir

# evaluations at steps 10, 20, 30, 40: the second is the best (most modes), then a tie that came later
SCRIPTED = [
    {"modes": 3, "high_quality": 0.5, "kl": 1.0},
    {"modes": 6, "high_quality": 0.6, "kl": 0.5},
    {"modes": 6, "high_quality": 0.6, "kl": 0.5},
    {"modes": 2, "high_quality": 0.9, "kl": 0.1},
]


# gan-runner itself, with the evaluator's metrics replaced by SCRIPTED's, one per evaluation
SCRIPT = """import sys, json
from gan_runner import cli
from gan_runner.evaluation import Evaluator
values = iter(json.loads(sys.argv.pop(1)))
Evaluator.metrics = lambda self, g, game=None, players=True: dict(next(values))
cli.train()
"""


@pytest.fixture
def run(tmp_path) -> RunDir:
    """A ring run of 40 steps whose four evaluations say what SCRIPTED says."""
    (tmp_path / "scripted.py").write_text(SCRIPT)
    subprocess.run(
        [
            sys.executable,
            str(tmp_path / "scripted.py"),
            json.dumps(SCRIPTED),
            "trainer.steps=40",
            "trainer.eval_every=10",
            "trainer.ckpt_every=0",
            "trainer.sample_every=0",
            "hydra.run.dir=run",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    return RunDir(tmp_path / "run")


@pytest.mark.slow
def test_best_is_saved_when_an_evaluation_improves_and_results_name_it(run):
    """Saved at steps 10 and 20 (each better than all before); not at 30 (a tie) nor at 40 (worse)."""
    results = json.loads(run.results.read_text())
    assert results["best"]["step"] == 20 and results["best"]["checkpoint"] == "checkpoints/best.pt"
    assert results["best"]["metrics"]["modes"] == 6 and results["final"]["modes"] == 2
    best, last = checkpoint.read(run.best_checkpoint), checkpoint.read(run.checkpoint)
    assert best["meta"]["step"] == 20 and last["meta"]["step"] == 40
    assert [h["step"] for h in best["meta"]["history"]] == [10, 20]
    g_best, g_last = best["meta"]["evaluated_G"], last["meta"]["evaluated_G"]
    assert any(not torch.equal(g_best[k], g_last[k]) for k in g_best)
    assert not list(
        run.best_checkpoint.parent.glob(".best.pt.*")
    )  # written atomically: no temporary left


@pytest.mark.slow
def test_sample_and_eval_take_the_best_checkpoint(run, tmp_path):
    for which in ([], ["--best"]):
        run_cli(
            str(run.path),
            "--num",
            "64",
            "--out",
            str(tmp_path / f"s{len(which)}.npy"),
            *which,
            cwd=tmp_path,
            tool="gan-runner-sample",
            check=True,
        )
    last, best = np.load(tmp_path / "s0.npy"), np.load(tmp_path / "s1.npy")
    G, _ = evaluated_generator(
        run.best_checkpoint, _compose(["trainer.steps=40"]).model, torch.device("cpu")
    )
    with torch.no_grad():
        expected = G(torch.randn(64, 256, generator=torch.Generator().manual_seed(0))).numpy()
    np.testing.assert_allclose(best, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(last, best)

    out = run_cli(
        str(run.path),
        "--best",
        "metrics.n_samples=200",
        cwd=tmp_path,
        tool="gan-runner-eval",
        check=True,
    )
    assert json.loads(out.stdout)["step"] == 20
    evaluation = json.loads(run.eval.read_text())["evaluations"][-1]
    assert evaluation["checkpoint"] == "checkpoints/best.pt" and evaluation["overrides"] == [
        "metrics.n_samples=200"
    ]


@pytest.mark.slow
def test_no_best_checkpoint_is_one_paragraph(tmp_path):
    run = RunDir(tmp_path / "run")  # nothing ranked: nothing is "best"
    run_cli(
        "trainer.steps=20",
        "metrics.names=[]",
        f"hydra.run.dir={run.path}",
        cwd=tmp_path,
        check=True,
    )
    assert run.checkpoint.is_file() and not run.best_checkpoint.exists()
    assert "checkpoint" not in json.loads(run.results.read_text())["best"]
    proc = run_cli(
        str(run.path),
        "--best",
        "--out",
        str(tmp_path / "x.npy"),
        cwd=tmp_path,
        tool="gan-runner-sample",
    )
    assert (
        proc.returncode == 2
        and "has no checkpoints/best.pt" in proc.stderr
        and "Traceback" not in proc.stderr
    )


@pytest.mark.slow
def test_a_fresh_start_drops_an_earlier_attempts_best(run, tmp_path):
    """A directory holding a best.pt but no last.pt (an attempt that never saved a checkpoint): a fresh
    run there must not serve that file as its own best, whatever it ranks."""
    fresh = RunDir(tmp_path / "fresh")
    fresh.best_checkpoint.parent.mkdir(parents=True)
    fresh.best_checkpoint.write_bytes(run.best_checkpoint.read_bytes())
    run_cli(
        "trainer.steps=20",
        "metrics.names=[]",
        f"hydra.run.dir={fresh.path}",
        cwd=tmp_path,
        check=True,
    )
    assert fresh.checkpoint.is_file() and not fresh.best_checkpoint.exists()


@pytest.mark.slow
def test_a_resumed_run_whose_best_came_before_the_resume_still_names_it(run, tmp_path):
    """Resumed from step 40 to 60 with worse evaluations: the best stays step 20's, and results.json
    still names checkpoints/best.pt, which holds it."""
    worse = [{"modes": 1, "high_quality": 0.1, "kl": 2.0}] * 2
    subprocess.run(
        [
            sys.executable,
            str(tmp_path / "scripted.py"),
            json.dumps(worse),
            f"resume={run.path}",
            "trainer.steps=60",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    results = json.loads(run.results.read_text())
    assert results["step"] == 60 and [h["step"] for h in results["history"]] == [
        10,
        20,
        30,
        40,
        50,
        60,
    ]
    assert results["best"]["step"] == 20 and results["best"]["checkpoint"] == "checkpoints/best.pt"
    assert checkpoint.read(run.best_checkpoint)["meta"]["step"] == 20
