"""A diverged run is a result, not a failure: the command exits 0 with status `diverged`, and a
sweep in which one job diverges while the others complete exits 0 and counts it in its summary."""

import csv
import json

import pytest

from conftest import job_dir, run_cli

# a short toy run; an lr of 1e30 puts D's weights at ~1e30 after one Adam step and its logits past
# float32's range at the next: non-finite by the first health check (step 5)
SHORT = [
    "trainer.steps=10",
    "trainer.log_every=5",
    "trainer.sample_every=0",
    "trainer.eval_every=0",
    "trainer.ckpt_every=0",
    "metrics.n_samples=100",
    "trainer.batch_size=64",
    "trainer.device=cpu",
]
DIVERGES = "optimizer.d.lr=1e30"


@pytest.mark.slow
def test_a_diverged_run_exits_0_with_status_diverged(tmp_path):
    run = tmp_path / "run"
    proc = run_cli(*SHORT, DIVERGES, "optimizer.g.lr=1e30", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    results = json.loads((run / "results.json").read_text())
    assert (results["status"], results["step"]) == ("diverged", 5) and "non-finite" in results[
        "note"
    ]
    assert proc.stdout.strip().splitlines()[-1].startswith("diverged at step 5: ")


@pytest.mark.slow
def test_a_sweep_with_a_diverged_job_exits_0_and_says_so(tmp_path):
    sweep = tmp_path / "sweep"
    # the middle job diverges; the one after it still runs and completes
    proc = run_cli(
        "-m", "optimizer.d.lr=1e-4,1e30,2e-4", *SHORT, f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"sweep {sweep}: 2 completed, 1 diverged; summary.md there" in proc.stdout
    names = [
        job_dir(sweep, i, f"optimizer.d.lr={lr}", *SHORT).name
        for i, lr in enumerate(("0.0001", "1e+30", "0.0002"))
    ]
    statuses = [json.loads((sweep / n / "results.json").read_text())["status"] for n in names]
    assert statuses == ["completed", "diverged", "completed"]
    rows = {r["run"]: r for r in csv.DictReader((sweep / "summary.csv").open())}
    assert [(rows[n]["optimizer.d.lr"], rows[n]["status"]) for n in names] == [
        ("0.0001", "completed"),
        ("1e+30", "diverged"),
        ("0.0002", "completed"),
    ]
    assert "non-finite" in rows[names[1]]["note"]
    assert "3 runs: 2 completed, 1 diverged" in (sweep / "summary.md").read_text()
