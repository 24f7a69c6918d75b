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
from gan_runner.tables import curves, pooled, series, table

# (job, loss, seed, status, final kl, kl curve at steps 100 and 200); job 5 left no results.json
JOBS = [
    (0, "minimax", 0, "completed", 0.1, (1.0, 0.5)),
    (1, "minimax", 1, "completed", 0.3, (2.0, 1.5)),
    (2, "minimax", 2, "diverged", 9.0, (3.0, 9.0)),
    (3, "lsgan", 0, "completed", 0.25, (1.0, 0.25)),
    (4, "lsgan", 1, "completed", 0.25, (1.0, 0.25)),
    (5, "lsgan", 2, None, None, None),
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    (root / "multirun.yaml").write_text("hydra: {}\n")  # what marks a sweep's directory
    for job, loss, seed, status, kl, curve in JOBS:
        run = root / str(job)
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(
            f"- loss={loss}\n- trainer.seed={seed}\n- trainer.steps=200\n"
        )
        if status is None:
            continue
        (run / "results.json").write_text(
            json.dumps(
                {
                    "status": status,
                    "step": 200,
                    "wall_time_s": 1.5,
                    "final": {"kl": kl, "modes": 8},
                    "note": "",
                }
            )
        )
        with SummaryWriter(run) as w:
            for step, value in zip((100, 200), curve):
                w.add_scalar("metrics/kl", value, step)
    return root


def test_runs_reads_overrides_and_results(sweep):
    records = {int(r["dir"].rsplit("/", 1)[1]): r for r in runs([sweep])}
    assert sorted(records) == [0, 1, 2, 3, 4, 5]
    assert records[1]["overrides"] == {
        "loss": "minimax",
        "trainer.seed": "1",
        "trainer.steps": "200",
    }
    assert records[2]["status"] == "diverged" and records[1]["final"]["kl"] == 0.3
    assert records[5]["status"] == "failed" and records[5]["note"] == "no results.json"
    assert runs([sweep], finished=False)[5]["status"] == "running"  # mid-sweep: not failed yet


def test_summary_has_a_row_per_job_and_the_counts(sweep):
    write_summary(sweep)
    rows = list(csv.DictReader(io.StringIO((sweep / "summary.csv").read_text())))
    assert [r["run"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert rows[1] == {
        "run": "1",
        "loss": "minimax",
        "trainer.seed": "1",
        "trainer.steps": "200",
        "status": "completed",
        "step": "200",
        "wall_time_s": "1.5",
        "kl": "0.3",
        "modes": "8",
        "note": "",
    }
    assert (
        rows[5]["status"] == "failed"
        and rows[5]["kl"] == ""
        and rows[5]["note"] == "no results.json"
    )
    md = (sweep / "summary.md").read_text()
    assert "| 2 | minimax | 2 | diverged | 200 | 1.5 | 9.0 | 8 |  |" in md  # what varies in columns
    assert "6 runs: 4 completed, 1 diverged, 1 failed\nAll runs: `trainer.steps=200`" in md


def test_table_cells_in_three_formats(sweep):
    records = runs([sweep])
    # minimax: kl 0.1 and 0.3 -> 0.2 ± 0.1414 (sample std), the diverged seed counted, not averaged
    md = table(records, "loss", None, "kl", "md")
    assert md.splitlines()[:4] == [
        "| loss | kl |",
        "|---|---|",
        "| lsgan | 0.25 ± 0 (n=2) [1 failed] |",
        "| minimax | 0.2 ± 0.14 (n=2) [1 diverged] |",
    ]
    rows = list(csv.DictReader(io.StringIO(table(records, "loss", None, "kl", "csv"))))
    assert [(r["loss"], float(r["kl_mean"]), r["n"], r["diverged"], r["failed"]) for r in rows] == [
        ("lsgan", 0.25, "2", "0", "1"),
        ("minimax", 0.2, "2", "1", "0"),
    ]
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
    assert steps == [
        100,
        200,
    ]  # the completed runs, as in the table (the diverged one is not averaged)
    np.testing.assert_allclose(mean, [1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(std, [np.std([1, 2], ddof=1), np.std([0.5, 1.5], ddof=1)], rtol=1e-6)
    assert data[("lsgan", "")][2].tolist() == [0, 0]


@pytest.mark.slow
def test_table_command(sweep, tmp_path):
    (sweep / "summary.md").unlink(missing_ok=True)
    proc = run_cli(
        str(sweep),
        "--rows",
        "loss",
        "--metric",
        "kl",
        "--plot",
        str(tmp_path / "kl.png"),
        cwd=tmp_path,
        tool="gan-runner-table",
        check=True,
    )
    assert "| minimax | 0.2 ± 0.14 (n=2) [1 diverged] |" in proc.stdout
    assert (sweep / "summary.md").is_file()  # the command also (re)writes the sweep's summary
    assert Image.open(tmp_path / "kl.png").size == (600, 700)  # two panels, one per loss
    bad = run_cli(str(tmp_path / "nowhere"), cwd=tmp_path, tool="gan-runner-table")
    assert bad.returncode == 2 and "not a directory" in bad.stderr
    bad = run_cli(
        str(sweep),
        "--metric",
        "modes",
        "--plot",
        str(tmp_path / "f.png"),
        cwd=tmp_path,
        tool="gan-runner-table",
    )  # a final metric never logged to TensorBoard
    assert bad.returncode == 2 and "no completed run logged metrics/modes" in bad.stderr


def test_axis_values_defaults_order_and_latex_escapes(tmp_path):
    def record(name, overrides, choices=None, config=None, kl=1.0):  # as summary.runs makes them
        return {
            "dir": str(tmp_path / name),
            "overrides": overrides,
            "choices": choices or {},
            "config": yaml.safe_load(config) if config else {},
            "status": "completed",
            "final": {"kl": kl},
        }

    records = [
        record("a", {"loss": "a_%b", "trainer.seed": "10"}),
        record("b", {"trainer.seed": "9"}, choices={"loss": "a_%b"}),  # the group by default
        record("c", {"loss": "z"}, config="trainer:\n  seed: 9\n", kl=3.0),
    ]  # the seed by default
    md = table(records, "trainer.seed", "loss", "kl")
    assert md.splitlines()[:4] == [
        "| trainer.seed \\ loss | a_%b | z |",
        "|---|---|---|",
        "| 9 | 1 (n=1) | 3 (n=1) |",
        "| 10 | 1 (n=1) |  |",
    ]  # 9 before 10
    latex = table(records, "loss", None, "kl", "latex").splitlines()
    assert latex[4] == r"a\_\%b & 1 $\pm$ 0 (n=2) \\"


# (job, loss, dataset, trainer.steps, status, final kl, best kl): composed runs (config.yaml and
# hydra.yaml), each logging kl to TensorBoard once, at its last step; job 4 never evaluated
MIXED = [
    (0, "lsgan", "ring", 100, "completed", 0.5, 0.2),
    (1, "lsgan", "ring", 200, "completed", 0.7, 0.1),
    (2, "minimax", "ring", 100, "completed", 0.9, 0.3),
    (3, "minimax", "grid", 100, "completed", 1.1, 0.5),
    (4, "lsgan", "grid", 300, "completed", None, None),
    (5, "minimax", "ring", 100, "diverged", 9.0, 0.0),
]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    for job, loss, dataset, steps, status, kl, best_kl in MIXED:
        hydra = root / str(job) / ".hydra"
        hydra.mkdir(parents=True)
        (hydra / "overrides.yaml").write_text(
            f"- loss={loss}\n- dataset={dataset}\n- trainer.steps={steps}\n"
        )
        (hydra / "hydra.yaml").write_text(
            yaml.safe_dump(
                {
                    "hydra": {
                        "runtime": {
                            "choices": {"loss": loss, "dataset": dataset, "optimizer": "adam"}
                        }
                    }
                }
            )
        )
        (hydra / "config.yaml").write_text(
            yaml.safe_dump({"dataset": {"n_modes": 8}, "trainer": {"steps": steps, "seed": job}})
        )
        evaluated = kl is not None
        best = (
            {"step": steps // 2, "by": ["kl"], "metrics": {"kl": best_kl, "modes": 8}}
            if evaluated
            else {}
        )
        (root / str(job) / "results.json").write_text(
            json.dumps(
                {
                    "status": status,
                    "step": steps,
                    "wall_time_s": 1.0,
                    "final": {"kl": kl} if evaluated else {},
                    "best": best,
                    "note": "",
                }
            )
        )
        if evaluated:
            with SummaryWriter(hydra.parent) as w:
                w.add_scalar("metrics/kl", kl, steps)
    return root


def test_unknown_metric_or_axis_is_an_error_naming_what_exists(mixed, tmp_path):
    def error(*args):
        proc = run_cli(str(mixed), *args, cwd=tmp_path, tool="gan-runner-table")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
        return proc.stderr.splitlines()[-1]

    assert error("--metric", "fid") == (
        "gan-runner-table: error: unknown metric 'fid'; the runs' final metrics: "
        "kl (a run computes those its metrics.names lists)"
    )
    assert error("--metric", "fid", "--best").endswith(
        "the runs' best metrics: kl, modes (a run computes those its metrics.names lists)"
    )
    # groups (choices: optimizer), composed config paths (trainer.seed) and override keys
    assert error("--rows", "los", "--metric", "kl") == (
        "gan-runner-table: error: unknown --rows key 'los'; the runs have: dataset, dataset.n_modes, loss, "
        "optimizer, trainer, trainer.seed, trainer.steps"
    )
    assert "unknown --cols key 'seed'" in error("--cols", "seed")
    assert error("--best") == "gan-runner-table: error: --best needs --metric"
    ok = run_cli(
        str(mixed),
        "--rows",
        "optimizer",
        "--cols",
        "trainer.seed",
        "--metric",
        "kl",
        cwd=tmp_path,
        tool="gan-runner-table",
        check=True,
    )
    # by seed (a config path only): job 4 completed without kl
    assert ok.stdout.splitlines()[2] == (
        "| adam | 0.5 (n=1) | 0.7 (n=1) | 0.9 (n=1) | 1.1 (n=1) | – | – [1 diverged] |"
    )


def test_pooling_different_datasets_or_lengths_warns(mixed, tmp_path):
    records = runs([mixed])
    # job 4 (grid, 300 steps) has no kl: it is not averaged, so it mixes nothing
    assert pooled(records, "loss", None, "kl") == [
        "warning: cell (loss=lsgan) pools runs of different trainer.steps: 100, 200",
        "warning: cell (loss=minimax) pools runs of different dataset: grid, ring",
    ]
    assert pooled(records, "loss", "dataset", "kl") == [
        "warning: cell (loss=lsgan, dataset=ring) pools runs of different trainer.steps: 100, 200"
    ]
    assert pooled(records, "trainer.steps", None, "kl") == [
        "warning: cell (trainer.steps=100) pools runs of different dataset: grid, ring"
    ]
    assert pooled(records, None, None, "kl") == [
        "warning: cell (all runs) pools runs of different dataset: grid, ring",
        "warning: cell (all runs) pools runs of different trainer.steps: 100, 200",
    ]
    proc = run_cli(
        str(mixed),
        "--rows",
        "loss",
        "--metric",
        "kl",
        cwd=tmp_path,
        tool="gan-runner-table",
        check=True,
    )
    assert proc.stdout.splitlines()[2:4] == [
        "| lsgan | 0.6 ± 0.14 (n=2) |",
        "| minimax | 1 ± 0.14 (n=2) [1 diverged] |",
    ]  # the table still printed
    assert proc.stderr.splitlines() == pooled(records, "loss", None, "kl")


def test_best_values_in_three_formats(mixed, tmp_path):
    # best kl: lsgan 0.2 and 0.1 (job 4 had no evaluation: best is {}), minimax 0.3 and 0.5 (the
    # diverged run's 0.0 not averaged)
    proc = run_cli(
        str(mixed),
        "--rows",
        "loss",
        "--metric",
        "kl",
        "--best",
        cwd=tmp_path,
        tool="gan-runner-table",
        check=True,
    )
    assert proc.stdout.splitlines() == [
        "| loss | kl |",
        "|---|---|",
        "| lsgan | 0.15 ± 0.071 (n=2) |",
        "| minimax | 0.4 ± 0.14 (n=2) [1 diverged] |",
        "",
        "best kl: mean ± sample std over the completed runs of each cell (n).",
    ]
    records = runs([mixed])
    assert table(records, "loss", None, "kl").splitlines()[-1].startswith("final kl: mean")
    rows = list(csv.DictReader(io.StringIO(table(records, "loss", None, "kl", "csv", best=True))))
    assert [
        (r["loss"], float(r["best_kl_mean"]), float(r["best_kl_std"]), r["n"], r["diverged"])
        for r in rows
    ] == [
        ("lsgan", pytest.approx(0.15), pytest.approx(0.0707107), "2", "0"),
        ("minimax", pytest.approx(0.4), pytest.approx(0.1414214), "2", "1"),
    ]
    latex = table(records, "loss", "dataset", "kl", "latex", best=True).splitlines()
    assert latex[4:6] == [
        r"lsgan & – & 0.15 $\pm$ 0.071 (n=2) \\",
        r"minimax & 0.5 (n=1) & 0.3 (n=1) [1 diverged] \\",
    ]


def test_plot_marks_each_point(mixed, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, out: saved.append(fig))
    curves(runs([mixed]), "loss", None, "kl", tmp_path / "kl.png")
    lines = {ax.get_title(): ax.lines[0] for ax in saved[0].axes}
    assert list(lines["loss=minimax"].get_xdata()) == [100]  # one evaluation step: a lone point
    assert [line.get_marker() for line in lines.values()] == ["o", "o"]
