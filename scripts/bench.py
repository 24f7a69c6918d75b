"""gan-runner's speed figures, each a ratio of two things measured in this one run.

    python scripts/bench.py              # every figure, as Markdown rows for BENCHMARKS.md
    python scripts/bench.py --only step  # one figure

Figures
- step:    a training step of the runner vs the same nets and loss in a hand-written PyTorch
           loop (goal <= 1.05x). tests/test_trainer.py checks the two compute identical numbers.
- startup: `gan-runner trainer.steps=1` from process start to exit vs the floor of any PyTorch
           training script (import torch, create an Adam optimizer).
- image_data: DCGAN-MNIST steps/s fed by on-device uint8 sampling vs by the classic DataLoader
           pipeline (goal >= 2x), and the two data paths alone.
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
    """DCGAN on MNIST-sized data: training steps/s fed by the runner's on-device uint8 sampling vs
    fed by the classic PyTorch DCGAN example's pipeline (torchvision MNIST with ToTensor and
    Normalize, DataLoader(shuffle=True, num_workers=2)); and the two data paths alone. The files are
    60,000 synthetic digits written in MNIST's own IDX format (the real ones cannot be fetched here)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from fixtures import make_mnist
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from gan_runner.data.images import torchvision_images
    from gan_runner.models import dcgan

    with tempfile.TemporaryDirectory() as root:
        make_mnist(Path(root), n_train=60_000, n_test=10)
        on_device = torchvision_images("mnist", root, False, "train", [-1.0, 1.0], None)
        classic = datasets.MNIST(root, transform=transforms.Compose([transforms.ToTensor(),
                                                                     transforms.Normalize((0.5,), (0.5,))]))
        loader = DataLoader(classic, batch_size=batch, shuffle=True, num_workers=2, drop_last=True)

        def dataloader_batches():
            while True:
                yield from (x for x, _ in loader)

        stream = dataloader_batches()

        def device_batch():
            return on_device.sample(batch)

        def loader_batch():
            return next(stream)

        loader_batch()  # start the workers outside the clock
        rows = []
        for width in widths:
            torch.manual_seed(0)
            G, D = dcgan.build((1, 28, 28), z_dim=100, width=width, d_batchnorm=True, output="tanh", init="normal",
                               init_gain=0.02, spectral_norm=False)
            opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
            opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))

            def train_steps(next_batch, n: int) -> None:
                for _ in range(n):
                    real = next_batch()
                    with torch.no_grad():
                        fake = G(torch.randn(batch, 100))
                    loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
                    opt_d.zero_grad()
                    loss_d.backward()
                    opt_d.step()
                    loss_g = F.softplus(-D(G(torch.randn(batch, 100)))).mean()
                    opt_g.zero_grad()
                    loss_g.backward()
                    opt_g.step()

            ours, theirs = [], []
            for _ in range(reps):
                ours.append(steps / timed(lambda: train_steps(device_batch, steps)))
                theirs.append(steps / timed(lambda: train_steps(loader_batch, steps)))
            rows.append((statistics.median(ours), statistics.median(theirs), width))
        data_ours = [2000 / timed(lambda: [device_batch() for _ in range(2000)]) for _ in range(reps)]
        data_theirs = [200 / timed(lambda: [loader_batch() for _ in range(200)]) for _ in range(reps)]
    med = statistics.median
    return [(f"DCGAN-MNIST training (width {width}, batch {batch}), on-device data / DataLoader(ToTensor, "
             "Normalize), steps/s", f"{ours / theirs:.2f}x",
             f"{ours:.2f} vs {theirs:.2f} steps/s on CPU, {torch.get_num_threads()} threads, 2 loader workers; "
             f"median of {reps}; goal >= 2x") for ours, theirs, width in rows] + [
        (f"data path alone (batch {batch}): on-device sampling / DataLoader, batches/s",
         f"{med(data_ours) / med(data_theirs):.0f}x", f"{med(data_ours):.0f} vs {med(data_theirs):.0f} batches/s")]


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
