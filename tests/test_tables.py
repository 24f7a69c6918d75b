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
from gan_runner import tables
from gan_runner.summary import runs, summary, write_summary
from gan_runner.tables import MixedSettings, curves, plot, series, sparse, table

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
    # a column per axis given, each named: none empty, none without a name
    header = ["kl_mean", "kl_std", "n", *tables.NOT_AVERAGED]
    for axes, named in (
        (("loss", None), ["loss"]),
        ((None, "loss"), ["loss"]),
        (("loss", "trainer.seed"), ["loss", "trainer.seed"]),
        ((None, None), []),
    ):
        lines = list(csv.reader(io.StringIO(table(records, *axes, "kl", "csv", pool=["loss"]))))
        assert lines[0] == [*named, *header]
        assert all(len(line) == len(lines[0]) and "" not in line[: len(named)] for line in lines)
    assert (
        table(records, None, None, "kl", "csv", pool=["loss"]).splitlines()[1].startswith("0.225,")
    )
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
    assert Image.open(tmp_path / "kl.png").size[0] > 420  # one panel, and the legend beside it
    # each curve has two evaluations (steps 100 and 200): a warning, the table and plot still made
    assert proc.stderr.splitlines() == [
        "warning: the kl curve has under three evaluations (loss=lsgan: 2; loss=minimax: 2): set "
        "trainer.eval_every lower for a curve (a tenth of trainer.steps gives ten points)"
    ]
    bad = run_cli(str(tmp_path / "nowhere"), cwd=tmp_path, tool="gan-runner-table")
    assert bad.returncode == 2 and "not a directory" in bad.stderr
    bad = run_cli(
        str(sweep),
        "--rows",
        "loss",
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
    assert "unknown --cols key 'seed'" in error("--cols", "seed", "--metric", "kl")
    assert "unknown --pool key 'step'" in error(
        "--rows", "loss", "--metric", "kl", "--pool", "step"
    )
    # what only a table of a metric can do is an error without one, not silently ignored
    needs = "--metric: they make a table or plot of it; without --metric the command prints the summary, a row per run"
    assert error("--best") == f"gan-runner-table: error: --best needs {needs}"
    assert error("--rows", "loss") == f"gan-runner-table: error: --rows needs {needs}"
    assert error("--cols", "loss") == f"gan-runner-table: error: --cols needs {needs}"
    assert error("--rows", "loss", "--pool", "dataset") == (
        f"gan-runner-table: error: --rows and --pool need {needs}"
    )
    assert error("--format", "latex") == (
        "gan-runner-table: error: --format latex needs --metric: the summary is md or csv"
    )
    summary_csv = run_cli(
        str(mixed), "--format", "csv", cwd=tmp_path, tool="gan-runner-table", check=True
    )
    assert (
        summary_csv.stdout.splitlines() == summary(runs([mixed]))[0].splitlines()
    )  # the summary, as CSV
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


def test_cells_of_different_datasets_or_lengths_are_refused(mixed, tmp_path):
    records = runs([mixed])
    # job 4 (grid, 300 steps) has no kl: not in the cell, so it mixes nothing; the diverged job 5
    # is counted in its cell, so it is checked
    assert mixed_text(records, "loss", None) == (
        "a cell averages runs that differ only in their seed, but the runs of cell loss=lsgan "
        "differ in trainer.steps (100, 200); the runs of cell loss=minimax differ in dataset (grid, "
        "ring). Put such a key on an axis (--cols trainer.steps), table the runs of one setting, "
        "or average over it anyway with --pool trainer.steps,dataset."
    )
    assert mixed_text(records, "loss", "dataset") == (
        "a cell averages runs that differ only in their seed, but the runs of cell loss=lsgan, "
        "dataset=ring differ in trainer.steps (100, 200). Put such a key on an axis, table the runs "
        "of one setting, or average over it anyway with --pool trainer.steps."
    )
    assert (
        "the runs differ in dataset (grid, ring), loss (lsgan, minimax), trainer.steps (100, 200)."
        in mixed_text(records, None, None)
    )
    assert mixed_text(records, "loss", "dataset", pool=["trainer.steps"]) is None
    assert mixed_text(records, "trainer.steps", "dataset", pool=["loss"]) is None
    with pytest.raises(MixedSettings, match="differ in trainer.steps"):
        table(records, "loss", "dataset", "kl")
    refused = run_cli(
        str(mixed), "--rows", "loss", "--metric", "kl", cwd=tmp_path, tool="gan-runner-table"
    )
    assert refused.returncode == 2 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert refused.stderr.splitlines()[-1] == (
        f"gan-runner-table: error: {mixed_text(records, 'loss', None)}"
    )
    for pool in (
        ["--pool", "dataset,trainer.steps"],
        ["--pool", "dataset", "--pool", "trainer.steps"],
    ):
        proc = run_cli(
            str(mixed),
            "--rows",
            "loss",
            "--metric",
            "kl",
            *pool,
            cwd=tmp_path,
            tool="gan-runner-table",
            check=True,
        )
        assert proc.stdout.splitlines()[2:4] == [
            "| lsgan | 0.6 ± 0.14 (n=2) |",
            "| minimax | 1 ± 0.14 (n=2) [1 diverged] |",
        ]


def mixed_text(records, rows, cols, pool=(), metric="kl", best=False):
    return tables.mixed(records, rows, cols, metric, best, pool)


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
        "--pool",
        "dataset,trainer.steps",
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
    both = ["dataset", "trainer.steps"]
    assert (
        table(records, "loss", None, "kl", pool=both).splitlines()[-1].startswith("final kl: mean")
    )
    rows = list(
        csv.DictReader(io.StringIO(table(records, "loss", None, "kl", "csv", best=True, pool=both)))
    )
    assert [
        (r["loss"], float(r["best_kl_mean"]), float(r["best_kl_std"]), r["n"], r["diverged"])
        for r in rows
    ] == [
        ("lsgan", pytest.approx(0.15), pytest.approx(0.0707107), "2", "0"),
        ("minimax", pytest.approx(0.4), pytest.approx(0.1414214), "2", "1"),
    ]
    latex = table(
        records, "loss", "dataset", "kl", "latex", best=True, pool=["trainer.steps"]
    ).splitlines()
    assert latex[4:6] == [
        r"lsgan & – & 0.15 $\pm$ 0.071 (n=2) \\",
        r"minimax & 0.5 (n=1) & 0.3 (n=1) [1 diverged] \\",
    ]


def composed_run(root, job, kl=0.5, choices=None, status="completed", **changed):
    """A composed run (config.yaml, hydra.yaml, overrides.yaml, results.json) of loss=lsgan: the
    config below with `changed` (dotted keys, `__` for `.`) set, and given as overrides too."""
    config = {
        "dataset": {"n_modes": 8, "download": False},
        "loss": {"a": 0.0},
        "trainer": {
            "steps": 200,
            "batch_size": 512,
            "seed": 0,
            "device": "auto",
            "compile": "off",
            "threads": None,
            "log_every": 10,
            "eval_every": 100,
            "sample_every": 100,
            "ckpt_every": 100,
        },
        "metrics": {"names": ["kl"], "cache_dir": "~/.cache/gan-runner", "objective": None},
        "resume": None,
        "claim": {"rows": "loss"},
    }
    overrides = ["loss=lsgan"]
    for dotted, v in changed.items():
        *path, last = dotted.split("__")
        node = config
        for part in path:
            node = node[part]
        node[last] = v
        overrides.append(f"{'.'.join([*path, last])}={v}")
    hydra = root / str(job) / ".hydra"
    hydra.mkdir(parents=True)
    (hydra / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    groups = {"loss": "lsgan", "hydra/launcher": "basic", **(choices or {})}
    (hydra / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": groups}}}))
    (hydra / "config.yaml").write_text(yaml.safe_dump(config))
    results = {"status": status, "step": 200, "wall_time_s": 1.0, "note": ""}
    results |= {"final": {"kl": kl, "train_loss_d": kl}, "best": {"metrics": {"kl": kl}}}
    (root / str(job) / "results.json").write_text(json.dumps(results))


def test_a_cell_pools_seeds_not_settings(tmp_path):
    # a second sweep into the same directory with trainer.batch_size=64: the issue's "lsgan 2.079 ± 0
    # (n=2)" pooled batch 512 and 64 without a word
    composed_run(tmp_path, 0, kl=1.0, trainer__seed=0)
    composed_run(tmp_path, 1, kl=2.0, trainer__seed=1)
    composed_run(tmp_path, 2, kl=3.0, trainer__seed=0, trainer__batch_size=64)
    records = runs([tmp_path])
    with pytest.raises(MixedSettings) as refused:
        table(records, "loss", None, "kl")
    assert str(refused.value) == (
        "a cell averages runs that differ only in their seed, but the runs of cell loss=lsgan "
        "differ in trainer.batch_size (64, 512). Put such a key on an axis (--cols "
        "trainer.batch_size), table the runs of one setting, or average over it anyway with "
        "--pool trainer.batch_size."
    )
    assert table(records, "loss", None, "kl", pool=["trainer.batch_size"]).splitlines()[2] == (
        "| lsgan | 2 ± 1 (n=3) |"
    )
    assert table(records, "loss", None, "kl", pool=["trainer"]).splitlines()[2].endswith("(n=3) |")
    assert table(records, "loss", "trainer.batch_size", "kl").splitlines()[2] == (
        "| lsgan | 3 (n=1) | 1.5 ± 0.71 (n=2) |"
    )
    # the refusal on the command line: one paragraph, exit 2, nothing printed, no traceback
    proc = run_cli(
        str(tmp_path), "--rows", "loss", "--metric", "kl", cwd=tmp_path, tool="gan-runner-table"
    )
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == f"gan-runner-table: error: {refused.value}"
    # a run the table counts but does not average (diverged) is checked as well
    composed_run(tmp_path, 3, status="diverged", trainer__seed=2, trainer__batch_size=64)
    records = runs([tmp_path])
    assert "trainer.batch_size (64, 512)" in tables.mixed(records, "loss", "trainer.seed", "kl")
    # a group on an axis: its own values still count within a cell
    composed_run(tmp_path / "a", 0, trainer__seed=0)
    composed_run(tmp_path / "a", 1, trainer__seed=1, loss__a=-1.0)
    assert "cell loss=lsgan differ in loss.a (-1.0, 0.0)." in tables.mixed(
        runs([tmp_path / "a"]), "loss", None, "kl"
    )


def test_what_never_makes_another_experiment_pools(tmp_path):
    composed_run(tmp_path, 0, kl=1.0, trainer__seed=0)
    composed_run(
        tmp_path,
        1,
        kl=2.0,
        choices={"hydra/launcher": "submitit_slurm"},
        trainer__seed=1,
        resume="outputs/2026-01-01/00-00-00",
        trainer__device="cuda:1",
        trainer__compile="default",
        trainer__threads=4,
        metrics__cache_dir="/scratch/cache",
        metrics__objective="kl",
        dataset__download=True,
        trainer__sample_every=50,
        trainer__ckpt_every=0,
        claim__rows="trainer.seed",
    )
    records = runs([tmp_path])
    assert table(records, "loss", None, "kl").splitlines()[2] == "| lsgan | 1.5 ± 0.71 (n=2) |"
    assert tables.mixed(records, "loss", None, "kl", best=True) is None


def test_the_cadence_counts_where_it_changes_the_number(tmp_path):
    composed_run(tmp_path, 0, trainer__seed=0)
    composed_run(tmp_path, 1, trainer__seed=1, trainer__eval_every=50)
    composed_run(
        tmp_path, 2, trainer__seed=2, trainer__log_every=20, metrics__names=["kl", "modes"]
    )
    records = runs([tmp_path])
    # a final value: computed at the end whatever the cadence
    assert tables.mixed(records, "loss", None, "kl") is None
    # the best: of the evaluations (eval_every), ranked by the metrics computed (metrics.names)
    assert "differ in metrics.names (['kl', 'modes'], ['kl']), trainer.eval_every (50, 100)." in (
        tables.mixed(records, "loss", None, "kl", best=True)
    )
    # a training statistic: a mean over the iterations since the last log line or evaluation
    assert "trainer.eval_every (50, 100), trainer.log_every (10, 20)." in tables.mixed(
        records, "loss", None, "train_loss_d"
    )


def test_a_key_that_follows_the_seed_is_the_seed(tmp_path):
    # the bilinear game's dataset.seed is ${trainer.seed}: each seed its own game
    composed_run(tmp_path, 0, trainer__seed=0, dataset__seed=0)
    composed_run(tmp_path, 1, trainer__seed=1, dataset__seed=1)
    composed_run(tmp_path, 2, trainer__seed=2, dataset__seed=2)
    assert tables.mixed(runs([tmp_path]), "loss", None, "kl") is None
    composed_run(tmp_path, 3, trainer__seed=3, dataset__seed=0)
    assert "differ in dataset.seed (0, 1, 2)" in tables.mixed(runs([tmp_path]), "loss", None, "kl")


def test_the_summary_leaves_out_how_runs_ran(tmp_path):
    composed_run(tmp_path, 0, trainer__seed=0)
    composed_run(tmp_path, 1, trainer__seed=1, resume="outputs/x", trainer__device="cpu")
    text_csv, text_md = summary(runs([tmp_path]))
    header = next(csv.reader(io.StringIO(text_csv)))
    assert header[:3] == ["run", "loss", "trainer.seed"] and "resume" not in header
    assert "trainer.device" not in header
    assert "resume" not in text_md and "trainer.device" not in text_md
    assert text_md.splitlines()[0] == (
        "| run | trainer.seed | status | step | wall_time_s | kl | train_loss_d | note |"
    )


# the kl curves of a sweep (loss by dataset): (steps, mean, std)
CURVES = {
    ("lsgan", "ring"): ([100, 200, 300], np.array([3.0, 2.0, 1.0]), np.zeros(3)),
    ("minimax", "ring"): ([100, 200, 300], np.array([3.0, 2.5, 2.0]), np.full(3, 0.1)),
    ("lsgan", "grid"): ([100, 200, 300], np.array([30.0, 20.0, 10.0]), np.zeros(3)),
    ("minimax", "grid"): ([100], np.array([30.0]), np.zeros(1)),
}


def test_plot_overlays_the_lines_on_shared_y_axes():
    one_axis = {(rv, ""): c for (rv, cv), c in CURVES.items() if cv == "ring"}
    fig = plot(one_axis, "loss", None, "kl")  # one panel, a line per loss
    (ax,) = fig.axes
    assert len(ax.lines) == 2 and ax.get_title() == "kl"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["lsgan", "minimax"]
    fig = plot(
        {("", cv): c for (rv, cv), c in CURVES.items() if rv == "lsgan"}, None, "dataset", "kl"
    )
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2  # --cols alone: the same picture
    fig = plot(CURVES, "loss", "dataset", "kl")  # a panel per dataset, a line per loss in each
    grid, ring = fig.axes
    assert (grid.get_title(), ring.get_title()) == ("dataset=grid", "dataset=ring")
    assert grid.get_shared_y_axes().joined(grid, ring) and grid.get_ylim() == ring.get_ylim()
    assert ring.get_ylim()[1] > 30  # the ring's panel on the grid's scale
    assert [line.get_marker() for line in grid.lines] == ["o", "o"]  # a lone point shows
    assert list(grid.lines[1].get_xdata()) == [100]
    # a long value's label is wrapped, the legend titled by the key
    fig = plot(
        {("a_" + "very_" * 12 + "long_value", ""): CURVES[("lsgan", "ring")]}, "loss", None, "kl"
    )
    assert "\n" in fig.legends[0].get_texts()[0].get_text()
    assert fig.legends[0].get_title().get_text() == "loss"


def test_a_curve_of_few_evaluations_is_warned_of(mixed, tmp_path, capsys):
    assert sparse(CURVES, "loss", "dataset", "kl") == [
        "warning: the kl curve has under three evaluations (loss=minimax, dataset=grid: 1): set "
        "trainer.eval_every lower for a curve (a tenth of trainer.steps gives ten points)"
    ]
    assert (
        sparse({k: v for k, v in CURVES.items() if len(v[0]) >= 3}, "loss", "dataset", "kl") == []
    )
    # each run of `mixed` evaluated once, at its last step: one point per curve
    out, warnings = curves(
        runs([mixed]), "loss", "dataset", "kl", tmp_path / "kl.png", pool=["trainer.steps"]
    )
    assert out.is_file() and warnings == [
        "warning: the kl curve has under three evaluations (loss=lsgan, dataset=ring: 2; "
        "loss=minimax, dataset=grid: 1; loss=minimax, dataset=ring: 1): set trainer.eval_every "
        "lower for a curve (a tenth of trainer.steps gives ten points)"
    ]
    with pytest.raises(MixedSettings, match="differ in trainer.steps"):
        curves(runs([mixed]), "loss", "dataset", "kl", tmp_path / "kl.png")
    proc = run_cli(
        str(mixed),
        "--rows",
        "loss",
        "--cols",
        "dataset",
        "--metric",
        "kl",
        "--pool",
        "trainer.steps",
        "--plot",
        str(tmp_path / "cli.png"),
        cwd=tmp_path,
        tool="gan-runner-table",
        check=True,
    )
    assert proc.stderr.splitlines() == warnings and proc.stdout.endswith(
        f"wrote {tmp_path / 'cli.png'}\n"
    )


def test_a_reproductions_curves_share_their_y_axis_unless_one_would_squash_the_rest(
    tmp_path, monkeypatch
):
    from matplotlib.figure import Figure

    from gan_runner.reproduce.figure import figure

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, out, **kw: saved.append((fig, kw)))
    claim = {"rows": "loss", "cols": "dataset", "metrics": ["kl"], "figure": "curves"}
    claim["labels"] = {"lsgan": "least squares: " + "a long name " * 4}

    def run(loss, dataset, kls):
        return {
            "dir": str(tmp_path),
            "status": "completed",
            "overrides": {"loss": loss, "dataset": dataset},
            "choices": {},
            "config": {},
            "history": [{"step": 100 * (i + 1), "kl": v} for i, v in enumerate(kls)],
        }

    runs_ = [run("lsgan", "ring", [3, 2, 1]), run("lsgan", "grid", [30, 20, 10])]
    figure(claim, runs_, tmp_path)
    (_, kw), grid, ring = saved[-1], *saved[-1][0].axes
    assert grid.get_shared_y_axes().joined(grid, ring) and kw == {"bbox_inches": "tight"}
    assert "\n" in grid.get_legend().get_texts()[0].get_text()  # a long label wrapped
    figure(claim, [runs_[0], run("lsgan", "grid", [1e-5, 1e5, 1e20])], tmp_path)  # one diverges
    grid, ring = saved[-1][0].axes
    assert not grid.get_shared_y_axes().joined(grid, ring)
