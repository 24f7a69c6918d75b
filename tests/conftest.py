import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from gan_runner import CONF_DIR
from gan_runner.config.store import register

BIN = Path(sys.executable).parent
register()  # the schema and resolvers, as the entry points do, for the tests that compose
# pytest runs two workers on two cores: one thread each, in-process and in the runs it starts
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"
# trained classifiers and reference statistics go to a fresh cache, never the user's
os.environ["GAN_RUNNER_CACHE"] = tempfile.mkdtemp(prefix="gan-runner-cache-")

# Small, fast versions of the default ring run.
FAST = [
    "trainer.steps=40",
    "trainer.batch_size=64",
    "trainer.log_every=10",
    "trainer.sample_every=20",
    "trainer.eval_every=20",
    "trainer.ckpt_every=20",
    "metrics.n_samples=500",
    "trainer.device=cpu",
]


def make_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        return compose("train", overrides=[*FAST, *overrides])


def run_cli(
    *args: str, cwd: Path, tool: str = "gan-runner", check: bool = False, **kw
) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True, **kw)
    if check and proc.returncode:
        raise AssertionError(f"{tool} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def job_dir(sweep: Path, num: int, *overrides: str) -> Path:
    """A sweep job's directory: its number and its task overrides as Hydra joins them (sorted, ','; a
    swept value as Hydra writes it, e.g. 0.0001 for 1e-4), the hydra ones left out (hydra.sweep.subdir)."""
    from gan_runner.run_dir import job_dirname

    return sweep / job_dirname(
        ",".join(sorted(o for o in overrides if not o.lstrip("+~").startswith("hydra"))), num
    )


def numbered_jobs(sweep: Path) -> dict[int, Path]:
    """A sweep's job directories that have started, by job number (hydra.job.num in .hydra/hydra.yaml)."""
    import re

    found = {}
    for record in sweep.glob("*/.hydra/hydra.yaml"):
        if num := re.search(r"^    num: (\d+)$", record.read_text(), re.M):
            found[int(num.group(1))] = record.parent.parent
    return found


@pytest.fixture(scope="session")
def image_root(tmp_path_factory) -> Path:
    """Every fixture dataset under one root, as dataset.root expects them; image folder in folder/."""
    from fixtures import make_cifar10, make_image_folder, make_mnist, make_svhn

    root = tmp_path_factory.mktemp("data")
    make_mnist(root)
    make_mnist(root, folder="FashionMNIST", seed=1)
    make_cifar10(root)
    make_svhn(root)
    make_image_folder(root / "folder")
    return root


@pytest.fixture
def no_md5(monkeypatch):
    """CIFAR-10 and SVHN verify the published files' MD5 sums; the fixtures cannot match them."""
    import torchvision

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(torchvision.datasets.svhn, "check_integrity", lambda *a, **k: True)


def load_state(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def assert_same_tensors(a, b, path=""):
    """Bitwise equality of two nested state dicts."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{path} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same_tensors(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a} != {b}"


def evaluated_samples(run_dir: Path, n: int, drawn: int | None = None) -> torch.Tensor:
    """The first n samples a run's last evaluation scored, rebuilt from its checkpoint without the
    Evaluator: the evaluated generator (its EMA, Lookahead's slow G, or G) in eval mode on the
    evaluation noise (`drawn` vectors, default n, from a generator seeded with trainer.seed), in [0, 1]."""
    from omegaconf import OmegaConf

    from gan_runner.models import build

    meta = load_state(run_dir)["meta"]
    cfg = OmegaConf.create(meta["config"])
    G, _ = build(cfg.model, tuple(meta["data_shape"]))
    G.load_state_dict(meta["evaluated_G"])
    z = torch.randn(
        drawn or n, cfg.model.z_dim, generator=torch.Generator().manual_seed(cfg.trainer.seed)
    )[:n]
    lo, hi = cfg.dataset.range
    with torch.no_grad():
        x = torch.cat([G.eval()(chunk) for chunk in z.split(cfg.metrics.fid.batch_size)])
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def metrics_classifier(cfg) -> torch.nn.Module:
    """The classifier a run with config `cfg` (composed) scored its samples with, from the metrics cache."""
    from gan_runner.evaluation import labelled_splits
    from gan_runner.metrics.classifier import load_or_train

    c, cpu = cfg.metrics.classifier, torch.device("cpu")
    return load_or_train(
        labelled_splits(cfg.dataset, cpu),
        Path(cfg.metrics.cache_dir),
        cpu,
        c.epochs,
        c.batch_size,
        c.lr,
    )[0]
