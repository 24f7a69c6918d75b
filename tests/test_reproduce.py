"""Reproductions: every experiment preset composes and trains at both scales; the verdict and the
paper-vs-ours table on constructed sweeps; --report and --list; an interrupted reproduction that is
started again continues and ends with the table of an uninterrupted one."""

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import BIN, numbered_jobs, run_cli
from gan_runner.config.compose import compose
from gan_runner.config.rules import validate
from gan_runner.data.digits import write as write_digits
from gan_runner.errors import UserError
from gan_runner.reproduce import sweep
from gan_runner.reproduce.claims import checked_claim, claim_of, presets
from gan_runner.reproduce.records import records
from gan_runner.reproduce.report import report, table
from gan_runner.reproduce.verdict import (
    FAILS,
    HOLDS,
    NOT_HERE,
    NOT_TRAINED,
    TOO_FEW,
    UNDECIDABLE,
    WITHIN_SPREAD,
    runs_needed,
    verdict,
)

PRESETS = presets()
QUICK = [name for name in PRESETS if "quick" in claim_of(name)["scales"]]
PHOTOS = [
    n for n in PRESETS if compose([f"+experiment={n}"]).dataset.get("name") == "cifar10"
]  # GPU clusters' claims


def test_the_seed_claims_are_presets():
    assert {"unrolled_ring", "lsgan_mixture", "lookahead_bilinear"} <= set(PRESETS)


def sweep_points(name: str, scale: str) -> dict[str, list[str]]:
    """The preset's sweep at a scale: each swept key and its values (the scale's overrides win)."""
    return sweep.sweep_points(name, claim_of(name)["scales"][scale]["overrides"])


@pytest.mark.slow
@pytest.mark.parametrize("name,scale", [(n, s) for n in PRESETS for s in claim_of(n)["scales"]])
def test_every_point_of_every_preset_composes_and_validates(name, scale):
    points = sweep_points(name, scale)
    first = {k: v[0] for k, v in points.items()}
    for key, values in points.items():
        for v in values:
            job = [f"{k}={v if k == key else first[k]}" for k in points]
            cfg = compose([f"+experiment={name}", *job])
            validate(cfg)
            assert cfg.claim.rows and cfg.claim.rule


def test_the_image_claims_are_presets():
    assert {
        "lookahead_mnist",
        "tempered_mnist",
        "unrolled_stacked_mnist",
        "goodfellow_saturation",
        "goodfellow_parzen",
        "lookahead_cifar10",
        "tempered_cifar10",
    } <= set(QUICK)


@pytest.mark.parametrize("name", PRESETS)
def test_a_method_option_means_the_same_before_or_after_its_preset(name):
    """A sweep puts its +experiment/<group>=<option> overrides before +experiment=<name>, so the preset
    merges last: it must not undo what an option chooses (a preset that picked the loss turned every
    tempered_mnist objective into the non-saturating one)."""
    from omegaconf import OmegaConf

    for key, values in sweep_points(name, "paper").items():
        if key.startswith("+experiment/"):
            for v in values:
                swept = compose([f"{key}={v}", f"+experiment={name}"])
                alone = compose([f"+experiment={name}", f"{key}={v}"])
                assert OmegaConf.to_container(swept) == OmegaConf.to_container(alone), f"{key}={v}"


SETTINGS = (
    "init",
    "noise",
    "data range",
    "update order",
    "loss reduction",
    "normalisation",
    "evaluation mode",
)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_states_its_setup_against_the_authors(name):
    """The header of every claim's preset (with the setup file it includes, e.g. goodfellow/mnist.yaml)
    has a table row for each setting a reviewer checks against the authors' code."""
    from gan_runner import CONF_DIR

    experiment = Path(CONF_DIR) / "experiment"
    text = (experiment / f"{name}.yaml").read_text()
    included = [
        line.strip()[2:]
        for line in text.split("defaults:")[1].split("\n\n")[0].splitlines()
        if line.strip().startswith("- ") and (experiment / f"{line.strip()[2:]}.yaml").exists()
    ]
    header = "\n".join(
        line
        for f in [f"{name}.yaml", *(f"{i}.yaml" for i in included)]
        for line in (experiment / f).read_text().splitlines()
        if line.startswith("# |")
    )
    rows = {line.split("|")[1].strip() for line in header.splitlines()}
    assert [s for s in SETTINGS if not any(row.startswith(s) for row in rows)] == []


@pytest.mark.slow
@pytest.mark.parametrize("name", PHOTOS)
def test_a_paper_scale_presets_first_job_takes_a_few_steps(name, tmp_path, image_root, no_md5):
    """Its first sweep point on the fixture's CIFAR-10 files, a few steps; its Inception metrics left
    out (the weights cannot be downloaded here: test_metrics covers them)."""
    from gan_runner.trainer import train

    first = [f"{k}={v[0]}" for k, v in sweep_points(name, "paper").items()]
    cfg = compose(
        [
            f"+experiment={name}",
            *first,
            f"dataset.root={image_root}",
            "trainer.steps=2",
            "trainer.batch_size=8",
            "trainer.log_every=1",
            "trainer.eval_every=2",
            "trainer.sample_every=2",
            "metrics.names=[]",
        ]
    )
    validate(cfg)
    assert train(cfg, tmp_path / "run").status == "completed"


@pytest.mark.slow
@pytest.mark.parametrize("name", QUICK)
def test_the_quick_sweeps_first_job_trains(name, tmp_path, request):
    """On the quick scale's own data: the image claims' 5,000 real digits written where it reads them;
    CIFAR-10 (not on this machine) the fixture's files, in process (their MD5 sums skipped), without
    its Inception metrics (test_metrics has them)."""
    digits = claim_of(name)["scales"]["quick"].get("digits")
    if digits:
        write_digits(tmp_path / digits)
    first = [f"{k}={v[0]}" for k, v in sweep_points(name, "quick").items()]
    short = [
        "trainer.steps=3",
        "trainer.log_every=1",
        "trainer.eval_every=3",
        "trainer.sample_every=3",
        "metrics.n_samples=200",
    ]
    if name in PHOTOS:
        from gan_runner.trainer import train

        request.getfixturevalue("no_md5")
        cfg = compose(
            [
                f"+experiment={name}",
                *first,
                *short,
                f"dataset.root={request.getfixturevalue('image_root')}",
                "metrics.names=[spread]",
                "trainer.batch_size=8",
            ]
        )
        validate(cfg)
        train(cfg, tmp_path / "run")
    else:
        run_cli(
            f"+experiment={name}",
            *first,
            *short,
            f"hydra.run.dir={tmp_path / 'run'}",
            cwd=tmp_path,
            check=True,
        )
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "completed" and results["final"]


# --- verdict and table on constructed sweeps ---------------------------------------------------

CLAIM = {
    "paper": "A. Author 2016",
    "statement": "K=10 covers every mode; K=0 collapses.",
    "metrics": ["modes", "kl"],
    "rows": "trainer.unroll_steps",
    "cols": None,
    "labels": {"0": "K=0", "10": "K=10"},
    "reported": {"0": {"modes": "1"}, "10": {"modes": "8"}},
    "source": "Fig. 1",
    "rule_text": "holds when ...",
    "min_runs": 3,
    "figure": "snapshots",
    "rule": [
        {
            "where": {"trainer.unroll_steps": "0"},
            "metric": "modes",
            "test": "<= 2",
            "over": "every_evaluation",
            "runs": "all",
            "diverged": False,
        },
        {
            "where": {"trainer.unroll_steps": "10"},
            "metric": "modes",
            "test": ">= 8",
            "over": "final",
            "runs": "all",
            "diverged": False,
        },
    ],
    "scales": {"quick": {"overrides": [], "measured": None}},
}


def make_sweep(root: Path, jobs: list[tuple], claim: dict = CLAIM) -> Path:
    """Job directories as a sweep leaves them: (K, seed, status or None for no results yet, history)."""
    root.mkdir(exist_ok=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    for i, (k, seed, status, history) in enumerate(jobs):
        run = root / str(i)
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(
            f"- trainer.unroll_steps={k}\n- trainer.seed={seed}\n"
        )
        (run / ".hydra" / "config.yaml").write_text(
            yaml.safe_dump({"trainer": {"unroll_steps": k, "seed": seed}, "claim": claim})
        )
        if status is not None:
            (run / "results.json").write_text(
                json.dumps(
                    {
                        "status": status,
                        "step": 100,
                        "wall_time_s": 60.0,
                        "final": history[-1] if history else {},
                        "history": [{"step": 50 * (j + 1), **h} for j, h in enumerate(history)],
                        "note": "",
                        "started": 1000.0 + i,
                        "ended": 1100.0 + i,
                        "host": {"name": "box", "torch_threads": 1},
                        "device": {"device": "cpu", "name": "a CPU"},
                    }
                )
            )
    return root


def good(k: int) -> list[dict]:
    return (
        [{"modes": 1, "kl": 2.0}, {"modes": 1, "kl": 2.0}]
        if k == 0
        else [{"modes": 6, "kl": 0.3}, {"modes": 8, "kl": 0.01}]
    )


def test_a_claim_that_holds(tmp_path):
    runs = records(
        make_sweep(tmp_path, [(k, s, "completed", good(k)) for k in (0, 10) for s in range(3)])
    )
    result, checks, _ = verdict(CLAIM, runs)
    assert result == HOLDS and [c["passed"] for c in checks] == [3, 3]
    text = table(CLAIM, runs)
    assert "| K=10 | 8 | 8 ± 0 (n=3) | 0.01 ± 0 (n=3) |" in text
    assert "| K=0 | 1 | 1 ± 0 (n=3) | 2 ± 0 (n=3) |" in text


def test_a_claim_that_fails_on_one_run_or_one_snapshot(tmp_path):
    hop = [
        {"modes": 3, "kl": 1.0},
        {"modes": 1, "kl": 2.0},
    ]  # 3 modes at one snapshot, 1 at the end
    runs = records(
        make_sweep(
            tmp_path,
            [(0, 0, "completed", hop), (0, 1, "completed", good(0)), (0, 2, "completed", good(0))]
            + [(10, s, "completed", good(10)) for s in range(3)],
        )
    )
    result, checks, _ = verdict(CLAIM, runs)
    assert result == FAILS and checks[0]["verdict"] == FAILS and checks[0]["passed"] == 2


def test_diverged_runs_fail_unless_the_condition_counts_them_and_too_few_runs(tmp_path):
    jobs = [(0, s, "completed", good(0)) for s in range(3)] + [
        (10, 0, "completed", good(10)),
        (10, 1, "diverged", good(10)[:1]),
        (10, 2, None, []),
    ]
    runs = records(make_sweep(tmp_path, jobs))
    result, checks, _ = verdict(CLAIM, runs)
    assert result == FAILS and (checks[1]["finished"], checks[1]["passed"]) == (2, 1)
    lenient = {**CLAIM, "rule": [CLAIM["rule"][0], {**CLAIM["rule"][1], "diverged": True}]}
    result, checks, _ = verdict(lenient, runs)
    assert result == TOO_FEW and checks[1]["verdict"] == TOO_FEW  # 2 finished runs < min_runs 3
    assert "1 diverged" in table(CLAIM, runs) and "1 running" in table(CLAIM, runs)


def test_comparisons_areas_and_first_evaluations(tmp_path):
    """`than`: the ratio of the means of two groups of runs, decided once both have min_runs finished;
    `over: area` (or NAME@area): the curve's trapezoid area per step; `over: first`."""
    curve = {
        0: [{"modes": 1, "kl": 3.0}, {"modes": 2, "kl": 1.0}],
        10: [{"modes": 8, "kl": 1.0}, {"modes": 8, "kl": 0.5}],
    }
    runs = records(
        make_sweep(tmp_path, [(k, s, "completed", curve[k]) for k in (0, 10) for s in range(3)])
    )
    lower_kl = {
        "where": {"trainer.unroll_steps": "10"},
        "than": {"trainer.unroll_steps": "0"},
        "metric": "kl",
        "test": "< 1",
        "over": "final",
    }
    result, checks, _ = verdict({**CLAIM, "rule": [lower_kl]}, runs)
    assert result == HOLDS and checks[0]["ratio"] == pytest.approx(0.5) and checks[0]["n"] == [3, 3]
    area = {
        **lower_kl,
        "over": "area",
    }  # areas over steps 50..100: K=10 (1 + 0.5)/2 = 0.75, K=0 (3 + 1)/2 = 2
    result, checks, _ = verdict({**CLAIM, "rule": [area]}, runs)
    assert result == HOLDS and checks[0]["means"] == [pytest.approx(0.75), pytest.approx(2.0)]
    assert verdict({**CLAIM, "rule": [{**lower_kl, "test": "< 0.4"}]}, runs)[0] == FAILS
    first = {
        "where": {"trainer.unroll_steps": "0"},
        "metric": "kl",
        "test": ">= 3",
        "over": "first",
        "runs": "all",
    }
    assert (
        verdict({**CLAIM, "rule": [first]}, runs)[0] == HOLDS
    )  # 3.0 at the first evaluation, 1.0 at the end
    assert "| K=10 | 0.75 ± 0 (n=3) |" in table({**CLAIM, "metrics": ["kl@area"]}, runs)
    unfinished = records(
        make_sweep(
            tmp_path / "partial",
            [(0, s, "completed", curve[0]) for s in range(3)]
            + [(10, 0, "completed", curve[10]), (10, 1, None, [])],
        )
    )
    assert verdict({**CLAIM, "rule": [lower_kl]}, unfinished)[0] == TOO_FEW
    # a diverged run of the claimed-better side contradicts it; of the other side it only leaves fewer runs
    diverging = records(
        make_sweep(
            tmp_path / "diverged",
            [(0, s, "completed", curve[0]) for s in range(3)]
            + [(10, s, "completed", curve[10]) for s in range(3)]
            + [(10, 3, "diverged", [])],
        )
    )
    result, checks, _ = verdict({**CLAIM, "rule": [lower_kl]}, diverging)
    assert result == FAILS and checks[0]["diverged"] == [1, 0]
    assert verdict({**CLAIM, "rule": [{**lower_kl, "diverged": True}]}, diverging)[0] == HOLDS
    other = records(
        make_sweep(
            tmp_path / "other",
            [(0, s, "completed", curve[0]) for s in range(4)]
            + [(0, 4, "diverged", [])]
            + [(10, s, "completed", curve[10]) for s in range(3)],
        )
    )
    assert verdict({**CLAIM, "rule": [lower_kl]}, other)[0] == HOLDS
    # a value missing at one evaluation (NaN) drops that value, not the run; no ratio of a zero mean
    gaps = records(
        make_sweep(
            tmp_path / "gaps",
            [(0, s, "completed", curve[0]) for s in range(3)]
            + [(10, s, "completed", [{"kl": float("nan")}, {"kl": 0.5}]) for s in range(3)],
        )
    )
    assert (
        verdict({**CLAIM, "rule": [{**lower_kl, "over": "every_evaluation"}]}, gaps)[1][0]["means"][
            0
        ]
        == 0.5
    )
    zero = records(
        make_sweep(
            tmp_path / "zero",
            [(k, s, "completed", [{"kl": 0.0}]) for k in (0, 10) for s in range(3)],
        )
    )
    assert verdict({**CLAIM, "rule": [lower_kl]}, zero)[0] == TOO_FEW


def test_most_and_none(tmp_path):
    runs = records(
        make_sweep(
            tmp_path, [(10, s, "completed", [{"modes": m}]) for s, m in enumerate((8, 8, 5))]
        )
    )
    rule = lambda runs_: {**CLAIM, "rule": [{**CLAIM["rule"][1], "runs": runs_}]}  # noqa: E731
    assert verdict(rule("most"), runs)[0] == HOLDS
    assert verdict(rule("all"), runs)[0] == FAILS
    assert verdict(rule("none"), runs)[0] == FAILS


def test_a_run_that_did_not_train_leaves_the_claim_undecided(tmp_path):
    """A precondition every finished run of its `where` must meet (e.g. D off chance) before the rule
    is read: one run that fails it makes the verdict "did not train", never "holds", even when every
    condition passes; the report names the run and its value."""
    history = {
        0: [{"modes": 1, "kl": 2.0, "train_loss_d": 1.2}],
        10: [{"modes": 8, "kl": 0.1, "train_loss_d": 1.2}],
    }
    jobs = [(k, s, "completed", history[k]) for k in (0, 10) for s in range(3)]
    jobs[4] = (10, 1, "completed", [{"modes": 8, "kl": 0.1, "train_loss_d": 1.39}])  # D at chance
    out = make_sweep(tmp_path, jobs)
    chance = {"metric": "train_loss_d", "test": "< 1.386", "why": "D ends at chance"}
    claim = {**CLAIM, "preconditions": [chance]}
    result, checks, failed = verdict(claim, records(out))
    assert result == NOT_TRAINED and {c["verdict"] for c in checks} == {HOLDS}
    assert [(Path(r["dir"]).name, v) for r, _, v in failed] == [("4", [1.39])]
    assert (
        verdict(
            {**claim, "preconditions": [{**chance, "where": {"trainer.unroll_steps": "0"}}]},
            records(out),
        )[0]
        == HOLDS
    )
    assert verdict(CLAIM, records(out))[0] == HOLDS
    text, result = report(out, claim)
    assert result == NOT_TRAINED and "**did not train** (D ends at chance): 4 (1.39)" in text
    assert "**Verdict: not decided: the setup did not train.**" in text
    # a scale that cannot decide says so, with the command that would, once its runs trained
    cannot = {
        **claim,
        "preconditions": [],
        "scales": {
            "quick": {
                "overrides": [],
                "decides": False,
                "why_not": "the budget is a GPU's",
                "decide_with": "gan-runner-reproduce x --scale paper",
            }
        },
    }
    (out / "reproduce.json").write_text(
        json.dumps([{"command": "c", "scale": "quick", "started": 0, "ended": 1}])
    )
    text, result = report(out, cannot)
    assert (
        result == NOT_HERE
        and "not decided here: the budget is a GPU's. Decide it with `gan-runner-reproduce x"
        in text
    )
    assert (
        verdict(claim, records(out), cannot["scales"]["quick"])[0] == NOT_TRAINED
    )  # it did not train: first


def test_a_sweep_committed_mid_way_is_not_decided_on_the_runs_it_has(tmp_path):
    """Records copied mid-sweep hold only the finished jobs: the grid in multirun.yaml names the
    points no job has started, which count as not finished (listed as cancelled), so the claim is not
    decided on the six runs that happen to be there."""
    out = make_sweep(tmp_path, [(k, s, "completed", good(k)) for k in (0, 10) for s in range(3)])
    assert verdict(CLAIM, records(out))[0] == HOLDS
    (out / "multirun.yaml").write_text(
        yaml.safe_dump(
            {
                "hydra": {
                    "sweeper": {
                        "params": {"trainer.unroll_steps": "0,10", "trainer.seed": "0,1,2,3"}
                    },
                    "overrides": {"task": []},
                }
            }
        )
    )
    runs = records(out)
    assert len(runs) == 8 and sum(r["status"] == "cancelled" for r in runs) == 2
    assert verdict(CLAIM, runs)[0] == TOO_FEW and "1 cancelled" in table(CLAIM, runs)


def test_every_job_finished_but_too_few_runs_a_cell_decides_nothing(tmp_path):
    """Two seeds a cell, every job finished, every value as the claim wants: with min_runs 3 neither
    a per-run condition nor a comparison holds; the third seed decides it."""
    two = records(
        make_sweep(
            tmp_path / "two", [(k, s, "completed", good(k)) for k in (0, 10) for s in range(2)]
        )
    )
    result, checks, _ = verdict(CLAIM, two)
    assert result == TOO_FEW and [c["verdict"] for c in checks] == [TOO_FEW, TOO_FEW]
    assert [(c["selected"], c["finished"]) for c in checks] == [
        (2, 2),
        (2, 2),
    ]  # nothing left to run
    lower_kl = {
        "where": {"trainer.unroll_steps": "10"},
        "than": {"trainer.unroll_steps": "0"},
        "metric": "kl",
        "test": "< 1",
    }
    result, checks, _ = verdict({**CLAIM, "rule": [lower_kl]}, two)
    assert result == TOO_FEW and checks[0]["n"] == [2, 2] and checks[0]["ratio"] < 1
    three = records(
        make_sweep(
            tmp_path / "three", [(k, s, "completed", good(k)) for k in (0, 10) for s in range(3)]
        )
    )
    assert verdict(CLAIM, three)[0] == verdict({**CLAIM, "rule": [lower_kl]}, three)[0] == HOLDS


def test_a_failed_condition_decides_while_another_has_too_few_runs(tmp_path):
    """K=0 already broke its rule on three finished runs; K=10 has one: the claim does not hold."""
    jobs = [(0, s, "completed", [{"modes": 5, "kl": 1.0}]) for s in range(3)] + [
        (10, 0, "completed", good(10))
    ]
    result, checks, _ = verdict(CLAIM, records(make_sweep(tmp_path, jobs)))
    assert [c["verdict"] for c in checks] == [FAILS, TOO_FEW] and result == FAILS


def test_runs_needed_are_for_the_one_sided_test_the_rule_makes_and_at_least_two():
    """δ = σ at α = 0.05 (one-sided), 80% power: the normal approximation says 2·(1.645 + 0.842)² ≈ 12.4;
    t quantiles on 2n − 2 degrees of freedom say 14. A difference far beyond the spread still needs 2."""
    assert runs_needed([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], 1.0, 0.05) == 14
    assert runs_needed([1.0, 1.1, 0.9], [2.0, 2.1, 1.9], -1.0, 0.05) == 2
    assert runs_needed([1.0], [2.0, 2.1], 1.0, 0.05) is None


def test_a_rule_of_no_condition_decides_nothing(tmp_path):
    runs = records(
        make_sweep(tmp_path, [(k, s, "completed", good(k)) for k in (0, 10) for s in range(3)])
    )
    assert verdict({**CLAIM, "rule": []}, runs)[0] == TOO_FEW
    cfg = compose(["+experiment=unrolled_ring", "claim.rule=[]"])
    with pytest.raises(UserError, match="claim.rule names no condition"):
        checked_claim(cfg.claim)


def test_lowest_and_highest_values_up_to_a_step(tmp_path):
    """`over: min` / `max` read a run's lowest or highest value, of its evaluations at or before `until`."""
    curve = [{"kl": 0.5}, {"kl": 0.05}, {"kl": 0.5}]  # steps 50, 100, 150
    runs = records(make_sweep(tmp_path, [(0, s, "completed", curve) for s in range(3)]))
    low = {"where": {"trainer.unroll_steps": "0"}, "metric": "kl", "test": "< 0.1", "over": "min"}
    assert verdict({**CLAIM, "rule": [low]}, runs)[0] == HOLDS
    assert verdict({**CLAIM, "rule": [{**low, "until": 50}]}, runs)[0] == FAILS
    rising = records(
        make_sweep(
            tmp_path / "rising",
            [(0, s, "completed", [{"kl": 0.5}, {"kl": 0.05}, {"kl": 0.9}]) for s in range(3)],
        )
    )
    high = {**low, "over": "max", "test": ">= 0.9"}
    assert verdict({**CLAIM, "rule": [high]}, rising)[0] == HOLDS
    assert (
        verdict({**CLAIM, "rule": [{**high, "until": 100}]}, rising)[0] == FAILS
    )  # 0.5 by step 100
    gap = records(
        make_sweep(tmp_path / "gap", [(0, s, "completed", [{"kl": 0.5}, {}]) for s in range(3)])
    )
    assert (
        verdict({**CLAIM, "rule": [{**high, "test": ">= 0.5"}]}, gap)[0] == HOLDS
    )  # a value that stopped: its others


def test_comparisons_within_the_seed_spread_and_beyond_the_runs(tmp_path):
    """`alpha`: the ratio must pass and a one-sided Welch t-test be significant, else "within the seed
    spread" with the runs a side the measured difference needs; `paper_ratio`: "not decidable here"
    when a difference of the paper's size needs more runs a side than the sweep has."""

    def sweep(name, better, worse):
        return records(
            make_sweep(
                tmp_path / name,
                [(10, s, "completed", [{"kl": v}]) for s, v in enumerate(better)]
                + [(0, s, "completed", [{"kl": v}]) for s, v in enumerate(worse)],
            )
        )

    lower = {
        "where": {"trainer.unroll_steps": "10"},
        "than": {"trainer.unroll_steps": "0"},
        "metric": "kl",
        "test": "< 1",
        "alpha": 0.05,
    }
    clear = sweep("clear", [1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    result, checks, _ = verdict({**CLAIM, "rule": [lower]}, clear)
    assert result == HOLDS and checks[0]["p"] < 0.01
    noisy = sweep("noisy", [1.0, 2.0, 0.5], [1.5, 0.8, 2.5])
    result, checks, _ = verdict({**CLAIM, "rule": [lower]}, noisy)
    assert result == WITHIN_SPREAD and checks[0]["p"] > 0.05 and checks[0]["needed"]["measured"] > 3
    assert (
        verdict({**CLAIM, "rule": [{**lower, "alpha": None}]}, noisy)[0] == HOLDS
    )  # the mean alone
    # the paper's 6% at a 10% spread needs ≈ 2·(2.5·0.1/0.06)² ≈ 35 runs a side: 3 cannot decide it,
    # whichever way they fall (a clear difference either way included); a paper's halving they can
    paper = {**lower, "paper_ratio": 0.94}
    result, checks, _ = verdict(
        {**CLAIM, "rule": [paper]}, sweep("small", [1.0, 1.1, 0.9], [1.0, 1.1, 0.9])
    )
    assert result == UNDECIDABLE and 30 < checks[0]["needed"]["paper"] < 60
    backwards = sweep("backwards", [2.0, 2.1, 1.9], [1.0, 1.1, 0.9])
    for runs in (clear, backwards):
        result, checks, _ = verdict({**CLAIM, "rule": [paper]}, runs)
        assert result == UNDECIDABLE and checks[0]["needed"]["paper"] > 3
    halving = {**lower, "paper_ratio": 0.5}
    assert verdict({**CLAIM, "rule": [halving]}, clear)[0] == HOLDS
    # significantly the other way: does not hold; within the spread the other way: undecided
    assert verdict({**CLAIM, "rule": [halving]}, backwards)[0] == FAILS
    assert (
        verdict({**CLAIM, "rule": [lower]}, sweep("unclear", [1.5, 0.8, 2.5], [1.0, 2.0, 0.5]))[0]
        == WITHIN_SPREAD
    )
    # a failed condition decides the claim even while another is undecided
    assert (
        verdict(
            {**CLAIM, "rule": [paper, lower]}, sweep("mixed", [1.0, 1.1, 0.9], [1.0, 1.1, 0.9])
        )[0]
        == UNDECIDABLE
    )
    failing = {
        **lower,
        "than": {"trainer.unroll_steps": "10"},
        "where": {"trainer.unroll_steps": "0"},
    }
    assert (
        verdict(
            {**CLAIM, "rule": [paper, failing]}, sweep("both", [1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
        )[0]
        == FAILS
    )


def test_report_on_a_partial_sweep_writes_report_and_figure(tmp_path):
    jobs = [(k, s, "completed", good(k)) for k in (0, 10) for s in range(3)][:4] + [
        (10, 1, None, []),
        (10, 2, None, []),
    ]
    out = make_sweep(tmp_path / "sweep", jobs)
    samples = out / "0" / "samples"
    samples.mkdir()
    from PIL import Image

    for step in (50, 100):
        Image.new("RGB", (20, 20), "white").save(samples / f"step_{step:07d}.png")
    proc = run_cli("--report", str(out), cwd=tmp_path, tool="gan-runner-reproduce", check=True)
    assert (
        "**Verdict: not decided yet: too few finished runs.**" in proc.stdout
        and "2 running" in proc.stdout
    )
    assert (out / "REPORT.md").read_text().strip() == proc.stdout.strip()
    assert (out / "figure.png").stat().st_size > 0


def test_report_refuses_what_is_not_a_reproduction(tmp_path):
    proc = run_cli("--report", str(tmp_path), cwd=tmp_path, tool="gan-runner-reproduce")
    assert (
        proc.returncode == 1
        and "nothing to report" in proc.stderr
        and "Traceback" not in proc.stderr
    )
    proc = run_cli("no_such_claim", cwd=tmp_path, tool="gan-runner-reproduce")
    assert proc.returncode == 1 and "No experiment preset 'no_such_claim'" in proc.stderr


@pytest.mark.slow
def test_a_missing_dataset_stops_a_reproduction_before_any_job(tmp_path):
    proc = run_cli(
        "goodfellow_parzen",
        "--scale",
        "paper",
        "dataset.root=nowhere",
        f"hydra.sweep.dir={tmp_path / 'out'}",
        cwd=tmp_path,
        tool="gan-runner-reproduce",
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "MNIST (train) is not in" in proc.stderr and "nowhere/MNIST/raw" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_list_shows_every_claim_with_its_scales():
    proc = run_cli("--list", cwd=Path.cwd(), tool="gan-runner-reproduce", check=True)
    for name in PRESETS:
        assert f"{name}: " in proc.stdout
    assert proc.stdout.count("--scale quick:") == len(QUICK) and proc.stdout.count(
        "--scale paper:"
    ) == len(PRESETS)


# --- an interrupted reproduction continues -----------------------------------------------------

TINY = """# @package _global_
defaults:
  - override /dataset: ring
trainer: {steps: 300, batch_size: 64, log_every: 50, eval_every: 100, sample_every: 100, ckpt_every: 20}
metrics: {n_samples: 500}
hydra:
  sweeper:
    params:
      loss: nonsaturating,lsgan
      trainer.seed: 0,1
claim:
  paper: "a test"
  statement: "LSGAN covers a mode"
  metrics: [modes, kl]
  rows: loss
  source: "nowhere"
  rule: [{where: {loss: lsgan}, metric: kl, test: "<= 2.0795"}]
  rule_text: "holds when KL(modes) is at most log 8"
  min_runs: 2
  scales: {quick: {overrides: []}, paper: {overrides: []}}
"""


@pytest.mark.slow
def test_an_interrupted_reproduction_continues_to_the_same_table(tmp_path):
    conf = tmp_path / "conf"
    (conf / "experiment").mkdir(parents=True)
    (conf / "experiment" / "tiny.yaml").write_text(TINY)
    reference = run_cli(
        "tiny",
        "--config-dir",
        str(conf),
        "hydra.sweep.dir=reference",
        cwd=tmp_path,
        tool="gan-runner-reproduce",
        check=True,
    )
    assert "**Verdict: the claim holds.**" in reference.stdout

    cmd = [str(BIN / "gan-runner-reproduce"), "tiny", "--config-dir", str(conf)]
    out = tmp_path / "outputs" / "reproduce" / "tiny" / "quick"
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 240
    while not (
        (jobs := numbered_jobs(out)).keys() >= {0, 1}
        and (jobs[0] / "results.json").exists()
        and (jobs[1] / "checkpoints" / "last.pt").exists()
    ):
        assert time.time() < deadline and proc.poll() is None, (
            "the sweep ended before it could be interrupted"
        )
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # to the reproduce command alone: it passes it on to the sweep
    first = proc.communicate(timeout=120)[0]
    jobs = numbered_jobs(out)
    stopped = [json.loads((jobs[j] / "results.json").read_text()) for j in (1, 2, 3)]
    assert [r["status"] for r in stopped] == [
        "interrupted"
    ] * 3  # the rest of the sweep stops at once
    assert 0 < stopped[0]["step"] < 300 and "not decided yet" in first

    again = run_cli(*cmd[1:], cwd=tmp_path, tool="gan-runner-reproduce", check=True)
    assert "resumed from" in (jobs[1] / "train.log").read_text()  # not started over

    def tabulated(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("|") or line.startswith("- ")]

    assert tabulated(again.stdout) == tabulated(reference.stdout)
    assert report(out)[1] == HOLDS

    # what git keeps of it (.gitignore: results.json, .hydra/, samples/, log.tail; the sweep's
    # multirun.yaml and reproduce.json), copied to another machine: it reports and continues from that alone
    shared = tmp_path / "elsewhere" / "outputs" / "reproduce" / "tiny" / "quick"
    kept = [
        "multirun.yaml",
        "reproduce.json",
        *(
            str(f.relative_to(out))
            for pattern in ("*/results.json", "*/log.tail", "*/.hydra/*", "*/samples/*")
            for f in out.glob(pattern)
        ),
    ]
    assert {
        "0_loss=nonsaturating,trainer.seed=0/log.tail",
        "0_loss=nonsaturating,trainer.seed=0/.hydra/config.yaml",
    } <= set(kept)
    for name in kept:
        (shared / name).parent.mkdir(parents=True, exist_ok=True)
        (shared / name).write_bytes((out / name).read_bytes())
    assert not list(shared.rglob("*.pt")) and not list(shared.rglob("events.*"))

    def report_on_records():
        return run_cli(
            "tiny",
            "--config-dir",
            str(conf),
            "--report",
            str(shared),
            cwd=tmp_path,
            tool="gan-runner-reproduce",
            check=True,
        )

    on_records = report_on_records()
    assert (
        tabulated(on_records.stdout) == tabulated(reference.stdout)
        and (shared / "figure.png").exists()
    )
    (
        shared / "1_loss=nonsaturating,trainer.seed=1" / "results.json"
    ).unlink()  # one job not finished there
    continued = run_cli(
        *cmd[1:], cwd=tmp_path / "elsewhere", tool="gan-runner-reproduce", check=True
    )
    assert continued.stdout.count("kept: ") == 3 and tabulated(continued.stdout) == tabulated(
        reference.stdout
    )
    rereported = report_on_records()  # the kept jobs' fresh, empty logs: not "running"
    assert (
        tabulated(rereported.stdout) == tabulated(reference.stdout)
        and "running" not in rereported.stdout
    )
    assert all(
        (job / "log.tail").read_text().strip() for job in shared.glob("*_loss=*")
    )  # tails kept, not emptied
    for job in out.glob(
        "*/results.json"
    ):  # the finished ones stand as they were; the other trained again
        again_there = json.loads((shared / job.parent.name / "results.json").read_text())
        assert (again_there["ended"] == json.loads(job.read_text())["ended"]) == (
            not job.parent.name.startswith("1_")
        )
        assert again_there["status"] == "completed"


def test_git_keeps_a_reproductions_records_and_nothing_else():
    """.gitignore under outputs/reproduce/<claim>/<scale>/: the report, the figure, the sweep's
    multirun.yaml and reproduce.json, each job's results.json, .hydra/, samples/ and log.tail."""
    root = Path(__file__).resolve().parents[1]
    job = "outputs/reproduce/some_claim/quick/0_loss=lsgan,trainer.seed=0"
    kept = [
        "outputs/reproduce/some_claim/quick/REPORT.md",
        "outputs/reproduce/some_claim/quick/figure.png",
        "outputs/reproduce/some_claim/quick/multirun.yaml",
        "outputs/reproduce/some_claim/quick/reproduce.json",
        f"{job}/results.json",
        f"{job}/log.tail",
        f"{job}/.hydra/config.yaml",
        f"{job}/samples/step_0000100.png",
    ]
    ignored = [
        f"{job}/checkpoints/last.pt",
        f"{job}/events.out.tfevents.1.box",
        f"{job}/train.log",
        f"{job}/launcher.log",
        "outputs/reproduce/some_claim/quick/summary.md",
        "outputs/2026-12-05/10-00-00/x",
    ]
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *kept, *ignored],
        cwd=root,
        capture_output=True,
        text=True,
    )
    verdicts = {
        line.split("\t")[-1]: not line.startswith("::")
        and not line.split("\t")[0].split(":")[-1].startswith("!")
        for line in proc.stdout.splitlines()
    }
    assert [p for p in kept if verdicts[p]] == [] and [p for p in ignored if not verdicts[p]] == []


@pytest.mark.slow
def test_every_committed_finished_job_still_counts_as_finished():
    """A reproduction continued from its committed records keeps its finished jobs: a new key
    (compat.ADDED), a new default or a changed preset must not make the current config differ from
    what a finished job recorded (resume.finished), or the continued sweep would train it again."""
    from omegaconf import OmegaConf

    from gan_runner.resume import finished
    from gan_runner.run_dir import RunDir

    root = Path(__file__).parents[1] / "outputs" / "reproduce"
    runs = [
        RunDir(r.parent)
        for r in sorted(root.glob("*/*/*/results.json"))
        if json.loads(r.read_text()).get("status") in ("completed", "diverged")
    ]
    assert len(runs) > 100  # the committed records are here
    stale = [
        str(run.path.relative_to(root))
        for run in runs
        if not finished(
            run,
            compose(
                [
                    o
                    for o in OmegaConf.load(run.overrides)
                    if not o.split("=")[0].lstrip("+~").startswith("hydra")
                ]
            ),
        )
    ]
    assert not stale, stale[:5]
