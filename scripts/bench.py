"""gan-runner's speed figures, each a ratio of two things measured in this one run.

    python scripts/bench.py              # every figure, as Markdown rows for BENCHMARKS.md
    python scripts/bench.py --only step  # one figure

Figures
- step:    a training step of the runner vs the same nets and loss in a hand-written PyTorch
           loop (goal <= 1.05x). tests/test_trainer.py checks the two compute identical numbers.
- startup: `gan-runner trainer.steps=1` from process start to exit vs the floor of any PyTorch
           training script (import torch, create an Adam optimizer).
- image_data: the runner's DCGAN-MNIST step (data on the device) vs the same nets fed by the
           classic DataLoader pipeline (goal >= 2x), and the two data paths alone.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from gan_runner.cli import CONF_DIR
from gan_runner.trainer import build, train

BIN = Path(sys.executable).parent
QUIET = ["trainer.eval_every=0", "trainer.sample_every=0", "trainer.ckpt_every=0", "trainer.device=cpu"]


def config(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        return compose("train", overrides=[*QUIET, *overrides])


def hand_written(cfg, steps: int):
    """Algorithm 1 (k = 1, non-saturating loss, Adam) as one would write it by hand, on the runner's
    nets and RNG order. Returns (G, D) after `steps` iterations."""
    torch.manual_seed(cfg.trainer.seed)
    data, G, D = build(cfg, torch.device("cpu"))
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.optimizer.g.lr, betas=tuple(cfg.optimizer.g.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.optimizer.d.lr, betas=tuple(cfg.optimizer.d.betas))
    B, z_dim = cfg.trainer.batch_size, cfg.model.z_dim
    for _ in range(steps):
        with torch.no_grad():
            fake = G(torch.randn(B, z_dim))
        loss_d = F.softplus(-D(data.sample(B))).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-D(G(torch.randn(B, z_dim)))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return G, D


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_step(steps: int = 2000, reps: int = 5) -> list[tuple[str, str, str]]:
    """Per-step time. The runner's includes its set-up and final evaluation, so it is measured as
    train(N + steps) - train(N); the hand loop's set-up (build) is measured the same way. The two
    alternate, and the figure is the median of the per-repetition ratios (this VM's speed drifts).
    One torch thread: two threads spin and steal from each other on a 2-core VM, which triples the
    spread of the measurements (and is slower for these small nets anyway)."""
    torch.set_num_threads(1)
    cfg_short, cfg_long = config("trainer.steps=50"), config(f"trainer.steps={50 + steps}")
    runner, hand = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(reps):
            hand.append((timed(lambda: hand_written(cfg_long, 50 + steps))
                         - timed(lambda: hand_written(cfg_short, 50))) / steps)
            long = timed(lambda: train(cfg_long, Path(tmp) / f"long{r}"))
            short = timed(lambda: train(cfg_short, Path(tmp) / f"short{r}"))
            runner.append((long - short) / steps)
    ratios = sorted(r / h for r, h in zip(runner, hand))
    return [("training step, default ring run (batch 512), runner / hand-written loop",
             f"{statistics.median(ratios):.3f}x",
             f"runner {1e3 * statistics.median(runner):.2f} ms/step, hand-written {1e3 * statistics.median(hand):.2f} "
             f"ms/step, 1 thread; median of {reps} alternating repetitions (ratios {ratios[0]:.2f}-{ratios[-1]:.2f})")]


def bench_startup(reps: int = 3) -> list[tuple[str, str, str]]:
    """Process start to exit for a one-step run, vs the floor any PyTorch training script pays:
    importing torch and creating an Adam optimizer (whose first use imports torch._dynamo)."""
    floor_code = "import torch; torch.optim.Adam([torch.zeros(1, requires_grad=True)])"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(BIN / "gan-runner"), "trainer.steps=1", f"hydra.run.dir={tmp}/run", *QUIET]
        run = statistics.median(timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
                                for _ in range(reps))
        floor = statistics.median(timed(lambda: subprocess.run([sys.executable, "-c", floor_code], check=True))
                                  for _ in range(reps))
    return [("start-up: `gan-runner trainer.steps=1` (whole process) / `import torch` + one Adam",
             f"{run / floor:.2f}x", f"{run:.2f} s vs {floor:.2f} s; median of {reps}")]


def bench_image_data(steps: int = 30, reps: int = 3, batch: int = 64, widths=(64, 16)) -> list[tuple[str, str, str]]:
    """DCGAN on MNIST-sized data: the runner's training step (its data on the device as uint8) vs the
    same nets and optimizers in a loop fed by the classic PyTorch DCGAN example's pipeline
    (torchvision MNIST with ToTensor and Normalize, DataLoader(shuffle=True, num_workers=2)); and
    the two data paths alone. One torch thread, as for the step figure; the loader's two workers
    share the second core. The files are 60,000 synthetic digits in MNIST's own IDX format (the
    real ones cannot be fetched here): the readers and sizes are the same."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from fixtures import make_mnist
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        make_mnist(Path(tmp) / "data", n_train=60_000, n_test=10)
        classic = datasets.MNIST(f"{tmp}/data", transform=transforms.Compose([transforms.ToTensor(),
                                                                              transforms.Normalize((0.5,), (0.5,))]))
        loader = DataLoader(classic, batch_size=batch, shuffle=True, num_workers=2, drop_last=True)

        def dataloader_batches():
            while True:
                yield from (x for x, _ in loader)

        stream = dataloader_batches()
        next(stream)  # start the workers outside the clock
        for width in widths:
            overrides = ["dataset=mnist", f"dataset.root={tmp}/data", "model=dcgan", f"model.width={width}",
                         f"trainer.batch_size={batch}", "metrics.n_samples=64"]
            short, long = config(*overrides, "trainer.steps=5"), config(*overrides, f"trainer.steps={5 + steps}")
            ratios, ours, theirs = [], [], []
            for r in range(reps):
                runner = (timed(lambda: train(long, Path(tmp) / f"long{width}{r}"))
                          - timed(lambda: train(short, Path(tmp) / f"short{width}{r}"))) / steps
                G, D = build(long, torch.device("cpu"))[1:]
                opt_g = torch.optim.Adam(G.parameters(), lr=long.optimizer.g.lr, betas=tuple(long.optimizer.g.betas))
                opt_d = torch.optim.Adam(D.parameters(), lr=long.optimizer.d.lr, betas=tuple(long.optimizer.d.betas))

                def classic_steps():
                    for _ in range(steps):
                        real = next(stream)
                        with torch.no_grad():
                            fake = G(torch.randn(batch, long.model.z_dim))
                        loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
                        opt_d.zero_grad()
                        loss_d.backward()
                        opt_d.step()
                        loss_g = F.softplus(-D(G(torch.randn(batch, long.model.z_dim)))).mean()
                        opt_g.zero_grad()
                        loss_g.backward()
                        opt_g.step()

                hand = timed(classic_steps) / steps
                ratios.append(hand / runner)
                ours.append(1 / runner)
                theirs.append(1 / hand)
            rows.append((f"DCGAN-MNIST training (width {width}, batch {batch}), runner (data on the device) / "
                         "DataLoader(ToTensor, Normalize) loop, steps/s", f"{statistics.median(ratios):.2f}x",
                         f"{statistics.median(ours):.2f} vs {statistics.median(theirs):.2f} steps/s on CPU, 1 thread, "
                         f"2 loader workers; median of {reps} repetitions (ratios {min(ratios):.2f}-{max(ratios):.2f})"
                         "; goal >= 2x"))
        on_device = build(config("dataset=mnist", f"dataset.root={tmp}/data", "model=dcgan"), torch.device("cpu"))[0]
        ratios = sorted((2000 / timed(lambda: [on_device.sample(batch) for _ in range(2000)]))
                        / (200 / timed(lambda: [next(stream) for _ in range(200)])) for _ in range(reps))
    rows.append((f"data path alone (batch {batch}): on-device sampling / DataLoader, batches/s",
                 f"{statistics.median(ratios):.0f}x", f"median of {reps} repetitions ({ratios[0]:.0f}-{ratios[-1]:.0f})"))
    return rows


FIGURES = {"step": bench_step, "startup": bench_startup, "image_data": bench_image_data}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=FIGURES, action="append")
    args = p.parse_args()
    print(f"<!-- {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} -->")
    print("| figure | value | detail |\n|---|---|---|")
    for name in args.only or FIGURES:
        for row in FIGURES[name]():
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
