"""Sweep summaries and gan-runner-table on a constructed sweep directory whose cells are known."""

import csv
import io
import json

import numpy as np
import pytest
import yaml
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from conftest import run_cli
from gan_runner.summary import runs, write_summary
from gan_runner.tables import series, table

# (job, loss, seed, status, final kl, kl curve at steps 100 and 200); job 5 left no results.json
JOBS = [(0, "minimax", 0, "completed", 0.1, (1.0, 0.5)),
        (1, "minimax", 1, "completed", 0.3, (2.0, 1.5)),
        (2, "minimax", 2, "diverged", 9.0, (3.0, 9.0)),
        (3, "lsgan", 0, "completed", 0.25, (1.0, 0.25)),
        (4, "lsgan", 1, "completed", 0.25, (1.0, 0.25)),
        (5, "lsgan", 2, None, None, None)]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    (root / "multirun.yaml").write_text("hydra: {}\n")  # what marks a sweep's directory
    for job, loss, seed, status, kl, curve in JOBS:
        run = root / str(job)
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(f"- loss={loss}\n- trainer.seed={seed}\n- trainer.steps=200\n")
        if status is None:
            continue
        (run / "results.json").write_text(json.dumps(
            {"status": status, "step": 200, "wall_time_s": 1.5, "final": {"kl": kl, "modes": 8}, "note": ""}))
        with SummaryWriter(run) as w:
            for step, value in zip((100, 200), curve):
                w.add_scalar("metrics/kl", value, step)
    return root


def test_runs_reads_overrides_and_results(sweep):
    records = {int(r["dir"].rsplit("/", 1)[1]): r for r in runs([sweep])}
    assert sorted(records) == [0, 1, 2, 3, 4, 5]
    assert records[1]["overrides"] == {"loss": "minimax", "trainer.seed": "1", "trainer.steps": "200"}
    assert records[2]["status"] == "diverged" and records[1]["final"]["kl"] == 0.3
    assert records[5]["status"] == "failed" and records[5]["note"] == "no results.json"
    assert runs([sweep], finished=False)[5]["status"] == "running"  # mid-sweep: not failed yet


def test_summary_has_a_row_per_job_and_the_counts(sweep):
    write_summary(sweep)
    rows = list(csv.DictReader(io.StringIO((sweep / "summary.csv").read_text())))
    assert [r["run"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert rows[1] == {"run": "1", "loss": "minimax", "trainer.seed": "1", "trainer.steps": "200",
                       "status": "completed", "step": "200", "wall_time_s": "1.5", "kl": "0.3", "modes": "8", "note": ""}
    assert rows[5]["status"] == "failed" and rows[5]["kl"] == "" and rows[5]["note"] == "no results.json"
    md = (sweep / "summary.md").read_text()
    assert "| 2 | minimax | 2 | diverged | 200 | 1.5 | 9.0 | 8 |  |" in md  # what varies in columns
    assert "6 runs: 4 completed, 1 diverged, 1 failed\nAll runs: `trainer.steps=200`" in md


def test_table_cells_in_three_formats(sweep):
    records = runs([sweep])
    # minimax: kl 0.1 and 0.3 -> 0.2 ± 0.1414 (sample std), the diverged seed counted, not averaged
    md = table(records, "loss", None, "kl", "md")
    assert md.splitlines()[:4] == ["| loss | kl |", "|---|---|",
                                   "| lsgan | 0.25 ± 0 (n=2) [1 failed] |",
                                   "| minimax | 0.2 ± 0.14 (n=2) [1 diverged] |"]
    rows = list(csv.DictReader(io.StringIO(table(records, "loss", None, "kl", "csv"))))
    assert [(r["loss"], float(r["kl_mean"]), r["n"], r["diverged"], r["failed"]) for r in rows] == [
        ("lsgan", 0.25, "2", "0", "1"), ("minimax", 0.2, "2", "1", "0")]
    assert float(rows[1]["kl_std"]) == pytest.approx(0.1414214) and rows[1]["kl_std"] != ""
    latex = table(records, "loss", "trainer.seed", "kl", "latex").splitlines()
    assert latex[0] == r"\begin{tabular}{lccc}"
    assert latex[2] == r"loss \textbackslash{} trainer.seed & 0 & 1 & 2 \\"
    assert latex[4] == r"lsgan & 0.25 (n=1) & 0.25 (n=1) & – [1 failed] \\"  # one run: no std
    assert latex[5] == r"minimax & 0.1 (n=1) & 0.3 (n=1) & – [1 diverged] \\"
    assert latex[-1] == r"\end{tabular}"


def test_curves_mean_and_std_over_seeds(sweep):
    data = series(runs([sweep]), "loss", None, "kl")
    steps, mean, std = data[("minimax", "")]
    assert steps == [100, 200]  # the completed runs, as in the table (the diverged one is not averaged)
    np.testing.assert_allclose(mean, [1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(std, [np.std([1, 2], ddof=1), np.std([0.5, 1.5], ddof=1)], rtol=1e-6)
    assert data[("lsgan", "")][2].tolist() == [0, 0]


def test_table_command(sweep, tmp_path):
    (sweep / "summary.md").unlink(missing_ok=True)
    proc = run_cli(str(sweep), "--rows", "loss", "--metric", "kl", "--plot", str(tmp_path / "kl.png"),
                   cwd=tmp_path, tool="gan-runner-table", check=True)
    assert "| minimax | 0.2 ± 0.14 (n=2) [1 diverged] |" in proc.stdout
    assert (sweep / "summary.md").is_file()  # the command also (re)writes the sweep's summary
    assert Image.open(tmp_path / "kl.png").size == (600, 700)  # two panels, one per loss
    bad = run_cli(str(tmp_path / "nowhere"), cwd=tmp_path, tool="gan-runner-table")
    assert bad.returncode == 2 and "not a directory" in bad.stderr
    bad = run_cli(str(sweep), "--metric", "fid", "--plot", str(tmp_path / "f.png"), cwd=tmp_path,
                  tool="gan-runner-table")
    assert bad.returncode == 2 and "no completed run logged metrics/fid" in bad.stderr


def test_axis_values_defaults_order_and_latex_escapes(tmp_path):
    def record(name, overrides, choices=None, config=None, kl=1.0):  # as summary.runs makes them
        return {"dir": str(tmp_path / name), "overrides": overrides, "choices": choices or {},
                "config": yaml.safe_load(config) if config else {}, "status": "completed", "final": {"kl": kl}}

    records = [record("a", {"loss": "a_%b", "trainer.seed": "10"}),
               record("b", {"trainer.seed": "9"}, choices={"loss": "a_%b"}),  # the group by default
               record("c", {"loss": "z"}, config="trainer:\n  seed: 9\n", kl=3.0)]  # the seed by default
    md = table(records, "trainer.seed", "loss", "kl")
    assert md.splitlines()[:4] == ["| trainer.seed \\ loss | a_%b | z |", "|---|---|---|",
                                   "| 9 | 1 (n=1) | 3 (n=1) |", "| 10 | 1 (n=1) |  |"]  # 9 before 10
    latex = table(records, "loss", None, "kl", "latex").splitlines()
    assert latex[4] == r"a\_\%b & 1 $\pm$ 0 (n=2) \\"
