"""A sweeper gets a number back: the task returns the run's objective (metrics.objective, its
direction from the metric registry), the worst value rather than NaN when a run did not finish,
and `hydra/sweeper=optuna` searches with it, in this process or through gpu_pool."""

import json
import math

import pytest
from omegaconf import OmegaConf

from conftest import make_cfg, run_cli
from gan_runner.errors import ConfigError
from gan_runner.metrics import objective
from gan_runner.preflight import check_direction, check_metrics
from gan_runner.run_dir import objective_value

OPTUNA = ["hydra/sweeper=optuna", "metrics.objective=kl",
          "hydra.sweeper.direction=minimize", "trainer.log_every=100",
          "trainer.sample_every=0", "trainer.eval_every=0", "metrics.n_samples=1000"]


def _finals(sweep) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/results.json")}


def test_the_primary_objective_follows_the_data_and_its_direction_the_registry():
    assert objective(["auto"], "mixture") == "modes"
    assert objective(["auto"], "digits") == "fid_classifier"
    assert objective(["auto"], "photos") == "fid_inception"
    assert objective(["auto"], "stacked_digits") == "stacked_modes"
    assert objective(["auto"], "game") == "distance"
    assert objective(["is_classifier", "fid_classifier"], "digits") == "fid_classifier"  # ranked first, not listed first
    assert objective([], "mixture") is None and objective(["saturation"], "digits") is None
    assert objective(["auto"], "mixture", "kl") == "kl"


@pytest.mark.parametrize("status, final, want", [
    ("completed", {"modes": 7, "kl": 0.25}, 7.0),
    ("completed", {"modes": float("nan")}, -math.inf),  # never NaN
    ("diverged", {"modes": 8}, -math.inf),  # its last good evaluation is not its result
    ("failed", {}, -math.inf),
    ("interrupted", {"modes": 8}, -math.inf),
    (None, None, -math.inf),  # no results.json at all
])
def test_a_run_that_did_not_complete_gives_the_worst_value(status, final, want):
    results = None if status is None else {"status": status, "final": final}
    assert objective_value(make_cfg(), results) == want
    assert objective_value(make_cfg("metrics.objective=kl"), results) == (0.25 if final and "kl" in final else math.inf)
    assert objective_value(make_cfg("metrics.names=[]"), results) is None


def test_an_objective_the_run_does_not_report_or_a_wrong_direction_is_refused():
    with pytest.raises(ConfigError, match=r"metrics.objective=fid_classifier is not a value this run reports: "
                                          r"it measures modes, high_quality, kl"):
        check_metrics(make_cfg("metrics.objective=fid_classifier"))
    check_metrics(make_cfg("metrics.objective=kl_no_ema", "trainer.ema=0.99"))  # the EMA's companion values
    with pytest.raises(ConfigError, match="Set hydra.sweeper.direction=maximize"):
        check_direction(make_cfg(), "minimize")
    check_direction(make_cfg("metrics.objective=kl"), "minimize")
    with pytest.raises(ConfigError, match="measures nothing it could rank"):
        check_direction(make_cfg("metrics.names=[]"), "maximize")


def test_an_optuna_search_of_learning_rates_on_the_ring_reports_the_best(tmp_path):
    sweep = tmp_path / "search"
    proc = run_cli("-m", *OPTUNA, "hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=3", "trainer.steps=300",
                   "optimizer.g.lr=tag(log, interval(1e-4, 1e-2))",
                   f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = _finals(sweep)
    assert len(runs) == 3 and {r["status"] for r in runs.values()} == {"completed"}
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_value == min(r["final"]["kl"] for r in runs.values())
    lrs = {float(o.split("=")[1]) for r in runs.values() for o in r["overrides"] if o.startswith("optimizer.g.lr=")}
    assert len(lrs) == 3 and best.best_params["optimizer.g.lr"] in lrs


def test_a_failed_trial_is_the_worst_value_and_the_search_goes_on_through_gpu_pool(tmp_path):
    """trainer.steps=0 fails its job's pre-flight: the trial gets +inf (kl is minimised), Optuna
    keeps searching and reports the trial that completed; the sweep still exits 1 for the failure."""
    sweep = tmp_path / "search"
    proc = run_cli("-m", *OPTUNA, "hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
                   "hydra/launcher=gpu_pool", "hydra.launcher.n_jobs=2", "trainer.steps=choice(60, 0)",
                   f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    runs = _finals(sweep)
    assert sorted(r["status"] for r in runs.values()) == ["completed", "failed"]
    completed = next(r for r in runs.values() if r["status"] == "completed")
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_value == completed["final"]["kl"] and best.best_params["trainer.steps"] == 60
    assert "2 runs: 1 completed, 1 failed" in (sweep / "summary.md").read_text()
