"""Every config option composes and builds; bad input fails before training with one clear paragraph."""

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from conftest import BIN, make_cfg
from gan_runner import losses
from gan_runner.cli import CONF_DIR
from gan_runner.config.rules import validate
from gan_runner.errors import UserError
from gan_runner.game import gan_game, players
from gan_runner.resume import resume_argv, resume_conflicts

GROUPS = ["dataset", "model", "loss", "optimizer", "lens", "trainer", "metrics"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((Path(CONF_DIR) / g).glob("*.yaml"))]


def test_every_group_has_options():
    assert {g for g, _ in OPTIONS} == set(GROUPS)
    assert {o for g, o in OPTIONS if g == "loss"} >= {
        "minimax",
        "nonsaturating",
        "lsgan",
        "hinge",
        "wgan_gp",
    }


# what each option needs beside it: image data its files; an image model image data; the bilinear game
# its players, no GAN loss and a minibatch of at most its n. Nothing else: an option brings what it needs.
IMAGES = ["dataset.root={root}"]
PARTNERS = {
    ("dataset", "mnist"): IMAGES,
    ("dataset", "fashion_mnist"): IMAGES,
    ("dataset", "cifar10"): IMAGES,
    ("dataset", "svhn"): IMAGES,
    ("dataset", "stacked_mnist"): [*IMAGES, "dataset.size=500"],
    ("dataset", "image_folder"): ["dataset.root={root}/folder", "dataset.resolution=32"],
    ("model", "dcgan"): ["dataset=mnist", "dataset.root={root}"],
    ("model", "dcgan28"): ["dataset=mnist", "dataset.root={root}"],
    ("model", "stacked_dcgan"): ["dataset=mnist", "dataset.root={root}"],
    ("model", "goodfellow_mlp"): ["dataset=mnist", "dataset.root={root}"],
    ("model", "resnet"): ["dataset=cifar10", "dataset.root={root}"],
    ("dataset", "bilinear"): ["model=bilinear", "~loss", "trainer.batch_size=100"],
    ("model", "bilinear"): ["dataset=bilinear", "~loss", "trainer.batch_size=100"],
}


@pytest.mark.parametrize("group,option", OPTIONS)
def test_every_option_composes_validates_and_builds(group, option, image_root, no_md5):
    partners = [p.format(root=image_root) for p in PARTNERS.get((group, option), [])]
    cfg = make_cfg(f"{group}={option}", *partners)
    validate(cfg)
    data, g, d = players(cfg, torch.device("cpu"))
    x = g(torch.randn(3, cfg.model.z_dim))
    for player, net in (("g", g), ("d", d)):
        assert isinstance(
            instantiate(cfg.optimizer[player], net.parameters(), _convert_="all"),
            torch.optim.Optimizer,
        )
    if cfg.loss is None:  # the bilinear game: the players are points, the problem is the objective
        stats = gan_game(cfg, data, g, d, torch.device("cpu")).iteration(1)
        assert x.shape == (3, *data.shape) and torch.isfinite(stats["loss/G"])
        return
    assert x.shape == (3, *data.shape) and d(x).shape == (3,) and d(data.sample(3)).shape == (3,)
    loss = instantiate(cfg.loss)  # only WGAN-GP regularises D (its gradient penalty)
    assert (loss.penalty is losses.no_penalty) == (cfg.loss._target_ != "gan_runner.losses.wgan_gp")


def test_options_bring_what_they_need_and_a_contradiction_is_refused():
    """model=goodfellow_mlp's sigmoid makes the data [0, 1]; model=mlp's output follows the data;
    extragradient plays simultaneously. Set by hand against them, each is refused."""
    cfg = make_cfg("dataset=mnist", "model=goodfellow_mlp")
    validate(cfg)
    assert list(cfg.dataset.range) == [0.0, 1.0]
    cfg = make_cfg("dataset=mnist")
    validate(cfg)
    assert (cfg.model.output.value, list(cfg.dataset.range)) == ("tanh", [-1.0, 1.0])
    assert make_cfg().model.output.value == "none"
    for extra in ("extra_adam", "extra_sgd"):
        cfg = make_cfg(f"optimizer={extra}")
        validate(cfg)
        assert (
            cfg.trainer.order.value == "simultaneous"
            and make_cfg().trainer.order.value == "alternating"
        )
    with pytest.raises(
        UserError, match=r"model.output=sigmoid cannot produce the data's range \[-1.0, 1.0\]"
    ):
        validate(make_cfg("dataset=mnist", "model=goodfellow_mlp", "dataset.range=[-1,1]"))
    with pytest.raises(UserError, match="needs trainer.order=simultaneous"):
        validate(make_cfg("optimizer=extra_adam", "trainer.order=alternating"))
    with pytest.raises(
        UserError, match=r"model.output=tanh makes images, but the dataset is 2-D points"
    ):
        validate(make_cfg("model=dcgan"))


DATASETS = [o for g, o in OPTIONS if g == "dataset"]


def refusal(dataset: str, group: str, option: str) -> str | None:
    """The pairs that cannot be played, each refused in one paragraph (what it says), or None: the
    pair plays. Nets that make images on 2-D points; the bilinear game (its own players and
    objective) with anything else; a net at an image size it lacks."""
    if dataset == "bilinear" or (group, option) == ("model", "bilinear"):
        return (
            None
            if (dataset, group, option) == ("bilinear", "model", "bilinear")
            else "played by model=bilinear"
        )
    if group != "model":
        return None
    if option in ("dcgan", "dcgan28", "stacked_dcgan", "goodfellow_mlp", "resnet") and dataset in (
        "ring",
        "grid",
    ):
        return "makes images, but the dataset is 2-D points"
    if option in ("dcgan28", "stacked_dcgan") and dataset in ("cifar10", "svhn", "image_folder"):
        return f"model={option} takes 28×28 images"
    if option == "resnet" and dataset in ("mnist", "fashion_mnist", "stacked_mnist"):
        return "the data is 28x28: set dataset.resolution=32"
    return None


@pytest.mark.slow
@pytest.mark.parametrize(
    "group,option", [(g, o) for g, o in OPTIONS if g in ("model", "loss", "optimizer", "lens")]
)
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_option_plays_one_iteration_on_every_dataset_with_the_rest_at_defaults(
    dataset, group, option, image_root, no_md5
):
    """Each option with each dataset and nothing else chosen: it validates and plays one iteration
    of the game (finite losses), or the pair is one that cannot be played and is refused so."""
    data_partners = [
        p.format(root=image_root)
        for p in PARTNERS.get(("dataset", dataset), [])
        if p.startswith("dataset.")
    ]
    game = (
        ["~loss", "lens=none"]
        if (dataset, group, option) == ("bilinear", "model", "bilinear")
        else []
    )
    cfg = make_cfg(
        f"dataset={dataset}", f"{group}={option}", "trainer.batch_size=8", *data_partners, *game
    )
    expected = refusal(dataset, group, option)
    try:
        validate(cfg)
        data, g, d = players(cfg, torch.device("cpu"))
    except UserError as e:
        assert expected and expected in str(e), str(e)
        return
    assert expected is None, (
        f"dataset={dataset} {group}={option} plays; expected the refusal '{expected}'"
    )
    stats = gan_game(cfg, data, g, d, torch.device("cpu")).iteration(1)
    assert torch.isfinite(stats["loss/D"]).all() and torch.isfinite(stats["loss/G"]).all()


def test_defaults_are_the_unrolled_gan_ring_setup():
    cfg = make_cfg()
    validate(cfg)
    assert (cfg.dataset.n_modes, cfg.dataset.radius, cfg.dataset.sigma) == (8, 2.0, 0.02)
    assert cfg.model.z_dim == 256 and list(cfg.model.generator.hidden) == [128, 128]
    assert list(cfg.model.discriminator.hidden) == [128] and cfg.model.d_input_scale == 0.25
    assert (cfg.model.init, cfg.model.init_gain) == ("orthogonal", 0.8)
    for p in "gd":
        assert cfg.optimizer[p].lr == 1e-4 and list(cfg.optimizer[p].betas) == [0.5, 0.999]
        assert cfg.optimizer[p].eps == 1e-8
    assert cfg.loss._target_.endswith("nonsaturating")
    lsgan = make_cfg("loss=lsgan").loss
    assert (lsgan.a, lsgan.b, lsgan.c) == (0.0, 1.0, 1.0)
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        t = compose("train").trainer  # without the tests' FAST overrides
    assert (t.steps, t.batch_size, t.d_steps, t.order, t.device) == (
        25000,
        512,
        1,
        "alternating",
        "auto",
    )


def test_range_errors_name_the_key():
    with pytest.raises(UserError, match=r"optimizer\.d\.lr"):
        validate(make_cfg("optimizer.d.lr=-0.1"))
    with pytest.raises(UserError, match=r"optimizer\.g\.momentum"):
        validate(make_cfg("optimizer=sgd", "optimizer.g.momentum=1.5"))


def test_resume_may_change_only_length_reporting_device_metrics_and_learning_rates():
    saved = make_cfg()
    assert (
        resume_conflicts(
            saved,
            make_cfg(
                "trainer.steps=99",
                "trainer.eval_every=3",
                "optimizer.d.lr=0.5",
                "metrics.n_samples=7",
                "trainer.device=auto",
            ),
        )
        == []
    )
    assert resume_conflicts(saved, make_cfg("loss=hinge")) == [
        "loss._target_: gan_runner.losses.nonsaturating -> gan_runner.losses.hinge"
    ]
    assert resume_conflicts(saved, make_cfg("trainer.seed=1", "optimizer.g.betas=[0.9,0.999]")) == [
        "optimizer.g.betas: [0.5, 0.999] -> [0.9, 0.999]",
        "trainer.seed: 0 -> 1",
    ]


def test_resume_overrides_keep_the_recorded_run_and_let_new_values_win(tmp_path, monkeypatch):
    run, started = tmp_path / "run", tmp_path / "lab"
    (run / ".hydra").mkdir(parents=True)
    started.mkdir()
    (run / ".hydra" / "overrides.yaml").write_text("- loss=lsgan\n- trainer.steps=100\n")
    (run / ".hydra" / "hydra.yaml").write_text(
        f"hydra:\n  job:\n    config_name: train\n  runtime:\n    cwd: {started}\n    config_sources:\n"
        f"    - {{path: {tmp_path / 'presets'}, schema: file, provider: command-line}}\n"
    )
    monkeypatch.chdir(tmp_path)
    args = resume_argv([f"resume={run}", "trainer.steps=200"])
    assert args[:2] == [
        f"--config-dir={tmp_path / 'presets'}",
        "--config-name=train",
    ]  # as it was composed
    assert (
        args[2] == "loss=lsgan" and "trainer.steps=100" not in args and "trainer.steps=200" in args
    )
    assert args[-1] == f"hydra.run.dir='{run}'"
    assert Path.cwd() == started  # relative paths in the recorded overrides mean what they meant


BAD_INPUTS = {  # overrides -> a phrase the one-paragraph message must contain
    "unknown group option": (["loss=wasserstein"], "loss has no option 'wasserstein'"),
    "unknown key": (
        ["trainer.stepz=10"],
        "Unknown key 'trainer.stepz'. Did you mean trainer.steps",
    ),
    "unknown key added with +": (["+model.depth=3"], "Unknown key 'model.depth'"),
    "wrong type": (["trainer.steps=many"], "could not be converted to Integer"),
    "negative lr": (
        ["optimizer.d.lr=-1e-4"],
        "optimizer.d.lr=-0.0001: must be a finite number > 0",
    ),
    "infinite lr": (["optimizer.g.lr=inf"], "optimizer.g.lr=inf: must be a finite number > 0"),
    "NaN lr": (["optimizer.d.lr=nan"], "optimizer.d.lr=nan: must be a finite number > 0"),
    "seed beyond 64 bits": (
        [f"trainer.seed={2**64}"],
        f"trainer.seed={2**64}: must be in [0, 2**64 - 1]",
    ),
    "a billion per batch": (
        ["trainer.batch_size=1000000000"],
        "needs at least 4.31e+03 GiB (trainer.batch_size=1000000000",
    ),
    "10^12 evaluation samples": (
        ["metrics.n_samples=1000000000000"],
        "metrics.n_samples=1000000000000",
    ),
    "a billion-dimensional z": (
        ["model.z_dim=1000000000"],
        "GiB (trainer.batch_size=512, model.z_dim=1000000000",
    ),
    "a target of one's own": (
        ["loss._target_=os.system"],
        "loss._target_='os.system' is not one of gan-runner's own",
    ),
    "positional arguments to a target": (["+loss._args_=[x]"], "loss._args_ is not allowed"),
    "a fixed key of an option": (
        ["lens=tempered", "lens.optimizer._partial_=false"],
        "lens.optimizer._partial_ cannot be set",
    ),
    "the renamed key": (
        ["trainer.update=simultaneous"],
        "trainer.update='simultaneous': was renamed trainer.order",
    ),
    "mps off a Mac": (["trainer.device=mps"], "trainer.device=mps is Apple's GPU"),
    "a metrics cache that cannot be made": (
        [
            "dataset=mnist",
            "model=dcgan",
            "dataset.root={root}",
            "metrics.cache_dir=/proc/gan-runner-cache",
        ],
        "Cannot write in /proc/gan-runner-cache",
    ),
    "Inception weights that are not weights": (
        [
            "dataset=cifar10",
            "model=dcgan",
            "dataset.root={root}",
            "metrics.fid.weights_path={root}/folder/notes.txt",
        ],
        "notes.txt (metrics.fid.weights_path) is not a readable weights file",
    ),
    "random bytes for MNIST": (
        ["dataset=mnist", "model=dcgan", "dataset.root={junk}"],
        "MNIST (train) at {junk}/MNIST/raw is there but torchvision rejects it",
    ),
    "an image folder of unreadable images": (
        [
            "dataset=image_folder",
            "dataset.root={junk}/images",
            "model=dcgan",
            "dataset.resolution=32",
            "metrics.names=[]",
        ],
        "none of the 3 image files is readable",
    ),
    "d_steps=0": (["trainer.d_steps=0"], "trainer.d_steps=0: must be >= 1"),
    "batch_size=0": (["trainer.batch_size=0"], "trainer.batch_size=0: must be >= 1"),
    "unknown device": (["trainer.device=tpu"], "trainer.device='tpu': must be auto, cpu, cuda"),
    "unknown activation": (
        ["model.generator.activation=swish"],
        "model.generator.activation takes one of relu, leaky_relu",
    ),
    "bad betas": (["optimizer.g.betas=[0.5,1.5]"], "optimizer.g.betas"),
    "lsgan a == b": (["loss=lsgan", "loss.a=1"], "a and b must differ"),
    "extragradient while alternating": (
        ["optimizer=extra_adam", "trainer.order=alternating"],
        "needs trainer.order=simultaneous",
    ),
    "bf16 in the bilinear game": (
        [
            "dataset=bilinear",
            "model=bilinear",
            "~loss",
            "trainer.batch_size=100",
            "trainer.precision=bf16",
        ],
        "trainer.precision and trainer.compile do not apply",
    ),
    "unknown precision": (
        ["trainer.precision=fp8"],
        "trainer.precision='fp8': must be fp32, bf16 or fp16",
    ),
    "fp16 with unrolling": (
        ["trainer.precision=fp16", "trainer.unroll_steps=2"],
        "the unrolled D's inner steps take their gradients unscaled",
    ),
    "fp16 with a gradient penalty": (
        ["trainer.precision=fp16", "loss=wgan_gp"],
        "WGAN-GP's penalty differentiates",
    ),
    "missing resume dir": (
        ["resume=/nonexistent/run"],
        "Cannot resume: /nonexistent/run does not exist",
    ),
    "unwritable output dir": (
        ["hydra.run.dir=/proc/gan-runner/x"],
        "Cannot write in /proc/gan-runner/x",
    ),
    "unknown sweep value type": (["trainer.seed=[1,2]"], "trainer.seed"),
    "G's output cannot produce the data": (
        ["dataset=mnist", "model.output=none"],
        "model.output=none cannot produce",
    ),
    "missing dataset": (
        ["dataset=mnist", "model=dcgan", "dataset.root=/nonexistent/data"],
        "MNIST (train) is not in /nonexistent/data: torchvision looks for /nonexistent/data/MNIST/raw",
    ),
    "image size the model cannot take": (
        [
            "dataset=image_folder",
            "dataset.root={root}/folder",
            "dataset.resolution=48",
            "model=dcgan",
            "metrics.names=[]",
        ],
        "set dataset.resolution",
    ),
    "Inception FID without its weights": (
        [
            "dataset=cifar10",
            "model=dcgan",
            "dataset.root={root}",
            "metrics.fid.weights_path=/nonexistent/pt_inception.pth",
        ],
        "The FID Inception weights are not at /nonexistent/pt_inception.pth",
    ),
    "metrics that do not fit the data": (
        ["metrics.names=[fid_classifier]"],
        "does not fit this dataset",
    ),
}
if not torch.cuda.is_available():
    BAD_INPUTS["cuda without a GPU"] = (["trainer.device=cuda:0"], "no CUDA device here")


def junk_data(root: Path) -> Path:
    """MNIST's four files of random bytes, and a folder of files named like images that are not."""
    rng = np.random.default_rng(0)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (root / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
        (root / "MNIST" / "raw" / name).write_bytes(rng.bytes(4096))
    (root / "images").mkdir()
    for i, suffix in enumerate((".png", ".jpg", ".webp")):
        (root / "images" / f"img{i}{suffix}").write_bytes(rng.bytes(300))
    return root


@pytest.mark.slow
def test_bad_input_exits_nonzero_with_one_clear_paragraph(tmp_path, image_root):
    """Each case: exit != 0, one paragraph naming the key or file, no traceback, nothing created.
    The time to reject is measured from process start (four at a time on two cores) and printed."""
    junk, work = junk_data(tmp_path / "junk"), tmp_path / "work"

    def reject(name: str) -> tuple[subprocess.CompletedProcess, float]:
        (work / name).mkdir(
            parents=True
        )  # each its own: runs started in one second share outputs/<date>/<time>
        start = time.perf_counter()
        proc = subprocess.run(
            [
                str(BIN / "gan-runner"),
                *(a.format(root=image_root, junk=junk) for a in BAD_INPUTS[name][0]),
                "trainer.steps=1",
            ],
            cwd=work / name,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return proc, time.perf_counter() - start

    with ThreadPoolExecutor(4) as pool:  # four at a time on two cores: the times are upper bounds
        done = dict(zip(BAD_INPUTS, pool.map(reject, BAD_INPUTS)))
    for name, (proc, _) in done.items():
        phrase = BAD_INPUTS[name][1].format(root=image_root, junk=junk)
        assert proc.returncode != 0, name
        assert phrase in proc.stderr, f"{name}: {proc.stderr}"
        assert "Traceback" not in proc.stderr + proc.stdout, f"{name}: {proc.stderr}"
        assert len(proc.stderr.strip().splitlines()) <= 20, (
            f"{name}: not one paragraph:\n{proc.stderr}"
        )
    assert [
        p for p in work.rglob("*") if p.parent != work
    ] == []  # rejected before a run directory, or anything, was made
    assert not Path("/proc/gan-runner-cache").exists()
    print("\n".join(f"{seconds:6.2f} s  {name}" for name, (_, seconds) in done.items()))
