"""Bit-identical numerics across a change: short reference runs with two source trees, then every
checkpoint tensor (networks, optimizer states, stabilisers, RNG streams) and every results.json's
history, final and best compared.

    git worktree add /tmp/before HEAD~1        # or: git archive REV | tar -x -C /tmp/before
    python scripts/same_numerics.py /tmp/before . /tmp/same [--digits data/mnist5k]

The runs: the default ring (evaluated, checkpointed twice), the lens with the EMA, Lookahead and
unrolling, Goodfellow et al.'s digits preset (with --digits), a run resumed to a longer budget, and a
two-seed sweep. Each tree runs in its own process with its own `src` first on the path, one thread.
Exits 1 on any difference.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

EVAL = ["trainer.eval_every=150", "trainer.ckpt_every=150", "trainer.sample_every=150"]
RUNS = {
    "ring": ["trainer.steps=300", *EVAL, "metrics.n_samples=1000"],
    "lens_ema_lookahead": [
        "loss=lsgan",
        "lens=tempered",
        "optimizer=lookahead_minmax",
        "optimizer.lookahead.k=5",
        "trainer.unroll_steps=3",
        "trainer.ema=0.99",
        "trainer.steps=60",
        "trainer.eval_every=30",
        "trainer.ckpt_every=30",
        "metrics.n_samples=1000",
    ],
}
RESUMED = ["trainer.steps=150", "trainer.eval_every=100", "trainer.ckpt_every=100"]
SWEEP = ["trainer.seed=0,1", "trainer.steps=100", "trainer.eval_every=50", "metrics.n_samples=500"]
# not numbers: the recorded paths differ between the two trees' directories; a claim is how runs are judged
SKIP = (".meta.wall_time", ".meta.config.resume", ".meta.config.claim")
LAUNCH = "import sys; from gan_runner.cli import train; sys.argv[0] = 'gan-runner'; train()"


def gan_runner(src: Path, args: list[str], out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(src / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCH, *args], env=env, capture_output=True, text=True, cwd=out
    )
    if proc.returncode:
        sys.exit(f"{src}: gan-runner {' '.join(args)} failed:\n{proc.stderr[-2000:]}")


def reference_runs(src: Path, out: Path, digits: str | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    runs = dict(RUNS)
    if digits:
        runs["goodfellow"] = [
            "+experiment=goodfellow_saturation",
            f"dataset.root={Path(digits).absolute()}",
            "trainer.steps=40",
            "trainer.eval_every=20",
            "trainer.ckpt_every=20",
            "trainer.sample_every=20",
            "metrics.n_samples=500",
        ]
    for name, args in runs.items():
        gan_runner(src, [*args, f"hydra.run.dir={out / name}"], out)
    gan_runner(src, [*RESUMED, "metrics.n_samples=1000", f"hydra.run.dir={out / 'resumed'}"], out)
    gan_runner(src, [f"resume={out / 'resumed'}", "trainer.steps=300"], out)
    gan_runner(src, ["-m", *SWEEP, f"hydra.sweep.dir={out / 'sweep'}"], out)


def leaves(x, path: str = ""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, f"{path}.{k}")
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}.{i}")
    else:
        yield path, x


def compare(a: Path, b: Path) -> list[str]:
    """Every difference between the two trees' checkpoints and results."""
    found = []
    for ckpt in sorted(a.rglob("checkpoints/*.pt")):
        x, y = (
            {k: v for k, v in leaves(torch.load(p, weights_only=True)) if not k.startswith(SKIP)}
            for p in (ckpt, b / ckpt.relative_to(a))
        )
        for key in sorted(x.keys() | y.keys()):
            u, v = x.get(key), y.get(key)
            same = torch.equal(u, v) if torch.is_tensor(u) and torch.is_tensor(v) else u == v
            if not same:
                found.append(f"{ckpt.relative_to(a)}: {key}")
    for results in sorted(a.rglob("results.json")):
        x, y = (json.loads(p.read_text()) for p in (results, b / results.relative_to(a)))
        found += [
            f"{results.relative_to(a)}: {key}"
            for key in ("status", "step", "history", "final", "best")
            if x.get(key) != y.get(key)
        ]
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("before", type=Path, help="a source tree (its src/ is imported)")
    p.add_argument("after", type=Path)
    p.add_argument("out", type=Path, help="where both trees' runs go (out/before, out/after)")
    p.add_argument("--digits", help="a dataset.root of MNIST files (gan-runner-digits writes one)")
    a = p.parse_args()
    for tree, name in ((a.before, "before"), (a.after, "after")):
        reference_runs(tree.absolute(), (a.out / name).absolute(), a.digits)
    found = compare(a.out / "before", a.out / "after")
    n_ckpt = len(list((a.out / "before").rglob("checkpoints/*.pt")))
    n_results = len(list((a.out / "before").rglob("results.json")))
    print(f"{n_ckpt} checkpoints and {n_results} results.json compared: {len(found)} differences")
    for line in found[:40]:
        print("  " + line)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
