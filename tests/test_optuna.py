"""A sweeper gets a number back: the task returns the run's objective (metrics.objective, its
direction from the metric registry), the worst value rather than NaN when a run did not finish,
and `hydra/sweeper=optuna` searches with it, in this process or through gpu_pool."""

import json
import math
import re

import pytest
from omegaconf import OmegaConf

from conftest import make_cfg, run_cli
from gan_runner.errors import UserError
from gan_runner.metrics import objective
from gan_runner.objective import objective_value
from gan_runner.preflight import check_direction, check_metrics

OPTUNA = [
    "hydra/sweeper=optuna",
    "metrics.objective=kl",
    "hydra.sweeper.direction=minimize",
    "trainer.log_every=100",
    "trainer.sample_every=0",
    "trainer.eval_every=0",
    "metrics.n_samples=1000",
]


def _finals(sweep) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/results.json")}


def test_the_primary_objective_follows_the_data_and_its_direction_the_registry():
    assert objective(["auto"], "mixture") == "modes"
    assert objective(["auto"], "digits") == "fid_classifier"
    assert objective(["auto"], "photos") == "fid_inception"
    assert objective(["auto"], "stacked_digits") == "stacked_modes"
    assert objective(["auto"], "game") == "distance"
    assert (
        objective(["is_classifier", "fid_classifier"], "digits") == "fid_classifier"
    )  # ranked first, not listed first
    assert objective([], "mixture") is None and objective(["saturation"], "digits") is None
    assert objective(["auto"], "mixture", "kl") == "kl"


@pytest.mark.parametrize(
    "status, final, want",
    [
        ("completed", {"modes": 7, "kl": 0.25}, 7.0),
        ("completed", {"modes": float("nan")}, -math.inf),  # never NaN
        ("diverged", {"modes": 8}, -math.inf),  # its last good evaluation is not its result
        ("failed", {}, -math.inf),
        ("interrupted", {"modes": 8}, -math.inf),
        (None, None, -math.inf),  # no results.json at all
    ],
)
def test_a_run_that_did_not_complete_gives_the_worst_value(status, final, want):
    assert objective_value(make_cfg(), status, final) == want
    assert objective_value(make_cfg("metrics.objective=kl"), status, final) == (
        0.25 if final and "kl" in final else math.inf
    )
    assert objective_value(make_cfg("metrics.names=[]"), status, final) is None


def test_an_objective_the_run_does_not_report_or_a_wrong_direction_is_refused():
    with pytest.raises(
        UserError,
        match=r"metrics.objective=fid_classifier is not a value this run reports: "
        r"it measures modes, high_quality, kl",
    ):
        check_metrics(make_cfg("metrics.objective=fid_classifier"))
    check_metrics(
        make_cfg("metrics.objective=kl_no_ema", "trainer.ema=0.99")
    )  # the EMA's companion values
    with pytest.raises(UserError, match="Set hydra.sweeper.direction=maximize"):
        check_direction(make_cfg(), "minimize")
    check_direction(make_cfg("metrics.objective=kl"), "minimize")
    with pytest.raises(UserError, match="measures nothing it could rank"):
        check_direction(make_cfg("metrics.names=[]"), "maximize")


@pytest.mark.slow
def test_an_optuna_search_of_learning_rates_on_the_ring_reports_the_best(tmp_path):
    sweep = tmp_path / "search"
    proc = run_cli(
        "-m",
        *OPTUNA,
        "hydra.sweeper.sampler.seed=0",
        "hydra.sweeper.n_trials=3",
        "trainer.steps=300",
        "optimizer.g.lr=tag(log, interval(1e-4, 1e-2))",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = _finals(sweep)
    assert len(runs) == 3 and {r["status"] for r in runs.values()} == {"completed"}
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_value == min(r["final"]["kl"] for r in runs.values())
    lrs = {
        float(o.split("=")[1])
        for r in runs.values()
        for o in r["overrides"]
        if o.startswith("optimizer.g.lr=")
    }
    assert len(lrs) == 3 and best.best_params["optimizer.g.lr"] in lrs


@pytest.mark.slow
def test_a_failed_trial_is_the_worst_value_and_the_search_goes_on_through_gpu_pool(tmp_path):
    """trainer.device=cuda:99 fails its job's pre-flight: the trial gets +inf (kl is minimised), Optuna
    keeps searching and reports the trial that completed; the sweep still exits 1 for the failure."""
    sweep = tmp_path / "search"
    proc = run_cli(
        "-m",
        *OPTUNA,
        "hydra/sweeper/sampler=grid",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "hydra/launcher=gpu_pool",
        "hydra.launcher.n_jobs=2",
        "trainer.steps=60",
        "trainer.device=choice(cpu, cuda:99)",  # sound configs; cuda:99 fails its job's pre-flight
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    runs = _finals(sweep)
    assert sorted(r["status"] for r in runs.values()) == ["completed", "failed"]
    completed = next(r for r in runs.values() if r["status"] == "completed")
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert (
        best.best_value == completed["final"]["kl"] and best.best_params["trainer.device"] == "cpu"
    )
    assert "2 runs: 1 completed, 1 failed" in (sweep / "summary.md").read_text()


# gan-runner with every evaluation scripted to the same values: a run that diverges has them too
SCRIPTED = """from gan_runner import cli
from gan_runner.evaluation import Evaluator
Evaluator.metrics = lambda self, g, game=None, players=True: {"modes": 8, "high_quality": 0.9, "kl": 0.5}
cli.train()
"""


@pytest.mark.slow
def test_an_in_process_trial_that_diverged_gets_the_worst_value_whatever_its_last_evaluation(
    tmp_path,
):
    """Optuna's trials run in this process (the basic launcher): the one whose D diverges at step 2 has
    a finite kl from its evaluation at step 1, yet the study records +inf for it, not that kl."""
    import subprocess
    import sys

    import optuna

    (tmp_path / "scripted.py").write_text(SCRIPTED)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    subprocess.run(
        [
            sys.executable,
            str(tmp_path / "scripted.py"),
            "-m",
            *OPTUNA,
            "hydra/sweeper/sampler=grid",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.n_jobs=1",
            "optimizer.d.lr=choice(0.0001, 1e30)",
            "trainer.steps=10",
            "trainer.eval_every=1",
            "trainer.batch_size=64",
            "metrics.n_samples=100",
            f"hydra.sweeper.storage={storage}",
            "hydra.sweeper.study_name=s",
            "hydra.sweep.dir=sweep",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    statuses = sorted(r["status"] for r in _finals(tmp_path / "sweep").values())
    assert statuses == ["completed", "diverged"]
    diverged = next(r for r in _finals(tmp_path / "sweep").values() if r["status"] == "diverged")
    assert diverged["final"]["kl"] == 0.5  # what a task that ignored the status would have returned
    values = {
        t.params["optimizer.d.lr"]: t.value
        for t in optuna.load_study(study_name="s", storage=storage).trials
    }
    assert values == {0.0001: 0.5, 1e30: math.inf}


@pytest.mark.slow
def test_gpu_pool_gives_the_worst_value_for_a_job_it_saw_fail_whatever_its_results_say(tmp_path):
    """The job of seed 1 trains to the end, writes a completed results.json, then its process exits 3
    (a crash in teardown, say): the pool saw it fail, and the study records +inf for it."""
    import subprocess
    import sys

    import optuna

    crash = (
        "import atexit, os, sys\n"
        "if 'trainer.seed=1' in sys.argv and any(a.startswith('hydra.run.dir=') for a in sys.argv):\n"
        "    atexit.register(os._exit, 3)\n"
    )
    (tmp_path / "scripted.py").write_text(crash + SCRIPTED)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    proc = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "scripted.py"),
            "-m",
            *OPTUNA,
            "hydra/sweeper/sampler=grid",
            "hydra.sweeper.n_trials=2",
            "trainer.seed=choice(0, 1)",
            "trainer.steps=10",
            "trainer.eval_every=5",
            "trainer.batch_size=64",
            "metrics.n_samples=100",
            "hydra/launcher=gpu_pool",
            "hydra.launcher.n_jobs=1",
            "hydra.sweeper.n_jobs=1",  # one trial at a time: distinct grid points
            f"hydra.sweeper.storage={storage}",
            "hydra.sweeper.study_name=s",
            "hydra.sweep.dir=sweep",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    # the job of seed 1, whichever number the grid's order gives it
    assert re.search(r"#\d+ failed \(exit 3", proc.stderr + proc.stdout), proc.stderr[-2000:]
    assert {r["status"] for r in _finals(tmp_path / "sweep").values()} == {
        "completed"
    }  # as each job wrote
    values = {
        t.params["trainer.seed"]: t.value
        for t in optuna.load_study(study_name="s", storage=storage).trials
    }
    assert values == {0: 0.5, 1: math.inf}
