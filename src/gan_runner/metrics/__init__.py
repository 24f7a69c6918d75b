"""Sample-quality metrics: each module is a set of plain functions of samples, features or data.

`METRICS` is the one registry: for every metric a run can ask for (`metrics.names`), what is
prepared for it before training, which kinds of dataset it fits (each dataset declares its kind in
config/datasets.py) and which of them compute it under `metrics.names=[auto]`, what computes it
(evaluation.COMPUTE), and the numbers it reports: which way each is better and where it ranks when a run's
best evaluation is chosen. Validation, the evaluator, results.json's `best` and the tables read it
from here; adding a metric is an entry here, its Evaluator method and its COMPUTE entry.
"""

import math
from dataclasses import dataclass

# dataset kinds: 2-D Gaussian mixtures; labelled grey digits (MNIST, Fashion-MNIST); labelled
# photos (CIFAR-10, SVHN); stacked MNIST (1000 modes); unlabelled images (an image folder); a game
# with its own objective (the bilinear game), measured on its players rather than on samples
KINDS = ("mixture", "digits", "photos", "stacked_digits", "unlabelled", "game")


@dataclass(frozen=True)
class Value:
    higher_is_better: bool | None  # None: a companion figure (a std, a chosen σ), not ranked
    rank: int | None = None  # the best evaluation compares ranked values in this order (1 first)
    # what the number is counted in, for the console and tables (docs/metrics.md has each value):
    # "%", "nats", or "/KEY": out of the evaluator's info[KEY] (e.g. modes 3/8)
    unit: str = ""


@dataclass(frozen=True)
class Metric:
    needs: str  # prepared before training: "mixture" (its modes), "classifier", "inception", "test split",
    # "spread" (the training data's);
    # "players": computed from both players as they are, not from G's samples
    fits: frozenset[str]  # the dataset kinds it can be computed on
    auto: frozenset[str]  # the kinds that compute it under metrics.names=[auto]
    # what computes it (evaluation.COMPUTE): (G, needs) -> {value name: number}; (game, needs) for "players"
    compute: str
    values: dict[str, Value]  # the numbers it reports


LABELLED = frozenset({"digits", "photos"})
IMAGES = frozenset(KINDS) - {"mixture", "game"}
METRICS = {
    # a mixture's best evaluation: the most modes covered, then the most high-quality samples
    "modes": Metric(
        "mixture",
        frozenset({"mixture"}),
        frozenset({"mixture"}),
        "modes",
        {
            "modes": Value(True, 1, "/modes_total"),
            "high_quality": Value(True, 2, "%"),
            "kl": Value(False, 6, "nats"),
            "modes_near": Value(None, None, "/modes_total"),
            "clumps": Value(None),
        },
    ),
    "stacked_modes": Metric(
        "classifier",
        frozenset({"stacked_digits"}),
        frozenset({"stacked_digits"}),
        "stacked_modes",
        {"stacked_modes": Value(True, 3, "/1000"), "stacked_kl": Value(False, 7, "nats")},
    ),
    # an image run's best evaluation: the lowest FID. Its floor: the same FID of as many real test
    # images (the data's own distance from its training statistics at this sample count)
    "fid_inception": Metric(
        "inception",
        IMAGES,
        frozenset({"photos", "unlabelled"}),
        "fid",
        {"fid_inception": Value(False, 4), "fid_inception_floor": Value(None)},
    ),
    "fid_classifier": Metric(
        "classifier",
        LABELLED,
        frozenset({"digits"}),
        "fid",
        {"fid_classifier": Value(False, 5), "fid_classifier_floor": Value(None)},
    ),
    "is_inception": Metric(
        "inception",
        IMAGES,
        frozenset({"photos", "unlabelled"}),
        "inception_score",
        {"is_inception": Value(True, 8), "is_inception_std": Value(None)},
    ),
    "is_classifier": Metric(
        "classifier",
        LABELLED,
        frozenset({"digits"}),
        "inception_score",
        {"is_classifier": Value(True, 9), "is_classifier_std": Value(None)},
    ),
    # Kernel Inception Distance (metrics/kid.py): against metrics.n_samples real training images
    **{
        f"kid_{network}": Metric(
            network,
            fits,
            frozenset(),
            "kid",
            {f"kid_{network}_mean": Value(False, rank), f"kid_{network}_std": Value(None)},
        )
        for network, fits, rank in (("inception", IMAGES, 12), ("classifier", LABELLED, 13))
    },
    # precision/recall (k = 3) and density/coverage (k = 5) of the k-NN manifolds (metrics/manifold.py),
    # against metrics.n_samples real training images; none ranks a run's evaluations alone
    **{
        f"prc_{network}": Metric(
            network,
            fits,
            frozenset(),
            "prc",
            {
                f"{value}_{network}": Value(True)  # fractions in [0, 1]; density from 0 up
                for value in ("precision", "recall", "f_score", "density", "coverage")
            },
        )
        for network, fits in (("inception", IMAGES), ("classifier", LABELLED))
    },
    # with its two baselines from the data: the training images as the kernel centres (the ceiling of
    # a generator trained on them) and one centre at their mean image (Parzen rewards blur)
    "parzen": Metric(
        "test split",
        LABELLED,
        frozenset(),
        "parzen",
        {
            "parzen": Value(True, 10, "nats"),
            "parzen_se": Value(None),
            "parzen_sigma": Value(None),
            "parzen_real": Value(None),
            "parzen_mean_image": Value(None),
        },
    ),
    # Goodfellow et al. 2014, §3: D(G(z)) and G's gradient norm under the minimax and non-saturating
    # losses (and the run's own), on both players as they train (sigmoid-logit D: the GAN losses)
    "saturation": Metric(
        "players",
        frozenset(KINDS) - {"game"},
        frozenset(),
        "saturation",
        {
            "d_fake": Value(None),
            "g_grad": Value(None),
            "g_grad_minimax": Value(None),
            "g_grad_nonsaturating": Value(None),
            "saturation_ratio": Value(None),
        },
    ),
    # how far G's samples spread: √(total variance) (images in [0, 1] units), and its ratio to the
    # training data's; a G collapsed to one point has 0 (a claim's precondition reads it)
    "spread": Metric(
        "spread",
        frozenset(KINDS) - {"game"},
        frozenset(),
        "spread",
        {"spread": Value(None), "spread_ratio": Value(None)},
    ),
    # the bilinear game: ‖x − x*‖ + ‖y − y*‖ of the current iterates (Chavdarova et al. 2021, §5.1)
    "distance": Metric(
        "players",
        frozenset({"game"}),
        frozenset({"game"}),
        "distance",
        {"distance": Value(False, 11)},
    ),
}
# with the generator EMA on, each value is also measured on the generator it follows (stabilisers/ema.py)
NO_EMA = "_no_ema"
VALUES = {
    name + suffix: Value(value.higher_is_better, None if suffix else value.rank, value.unit)
    for m in METRICS.values()
    for name, value in m.values.items()
    for suffix in ("", NO_EMA)
}
# what every evaluation also records of training since the last log line (trainer.Window): the
# players' losses, D's mean raw outputs, and the lens's reconstruction error, λ and adversarial term
TRAINING = (
    "train_loss_d",
    "train_loss_g",
    "train_d_real",
    "train_d_fake",
    "train_lens_rec",
    "train_lens_lambda",
    "train_lens_adv",
)
VALUES.update({name: Value(None) for name in TRAINING})
# the metric (registry entry) each value belongs to
METRIC_OF = {v + suffix: n for n, m in METRICS.items() for v in m.values for suffix in ("", NO_EMA)}
HIGHER_IS_BETTER = {name: value.higher_is_better for name, value in VALUES.items()}


def shown(name: str, value: float, info: dict | None = None) -> str:
    """`name value unit`, as the console and tables show it: modes 3/8, high_quality 41.2%, kl 0.19 nats."""
    unit = VALUES.get(name, Value(None)).unit
    if unit.startswith("/"):
        key = unit[1:]
        total = (info or {}).get(key, int(key) if key.isdigit() else None)
        unit = f"/{total:g}" if total is not None else ""
    elif unit and unit != "%":
        unit = " " + unit
    return f"{name} {value:.4g}{unit}"


# what a feature network computes from samples alone: all a folder of images can be measured by
FEATURES = ("fid", "inception_score", "kid", "prc")


def for_images(kind: str, inception_logits: bool) -> list[str]:
    """The metrics of a folder of samples of `kind` data (gan-runner-eval --images): every feature
    metric of the network [auto] measures such data with (the classifier for MNIST-like digits),
    else of Inception; without `inception_logits` (a TorchScript Inception) no Inception score on
    Inception."""
    auto = [METRICS[m] for m in resolve(["auto"], kind)]
    on_classifier = any(m.needs == "classifier" and m.compute in FEATURES for m in auto)
    network = "classifier" if on_classifier else "inception"
    return [
        name
        for name, m in METRICS.items()
        if m.needs == network
        and m.compute in FEATURES
        and kind in m.fits
        and (inception_logits or name != "is_inception")
    ]


def resolve(names: list[str], kind: str) -> list[str]:
    """The metrics a run computes: `[auto]` becomes those its dataset kind computes by default."""
    if list(names) == ["auto"]:
        return [name for name, m in METRICS.items() if kind in m.auto]
    return list(names)


def unfit(names: list[str], kind: str) -> list[str]:
    return [name for name in resolve(names, kind) if kind not in METRICS[name].fits]


def fitting(kind: str) -> list[str]:
    return [name for name, m in METRICS.items() if kind in m.fits]


def needed(names: list[str], kind: str) -> set[str]:
    """What the evaluator must prepare for these metrics."""
    return {METRICS[name].needs for name in resolve(names, kind)}


def objective(names: list[str], kind: str, chosen: str | None = None) -> str | None:
    """The value a sweeper optimises (metrics.objective): the chosen one, or else the run's primary
    value, the first its best evaluation ranks by; None when the run measures nothing ranked."""
    if chosen:
        return chosen
    ranked = [
        v
        for n in resolve(names, kind)
        for v, value in METRICS[n].values.items()
        if value.rank is not None
    ]
    return min(ranked, key=lambda v: VALUES[v].rank, default=None)


def worst(name: str) -> float:
    """The objective of a run that did not finish with it: never NaN (a sweeper cannot rank NaN)."""
    return -math.inf if HIGHER_IS_BETTER[name] else math.inf


def best(history: list[dict[str, float]]) -> dict:
    """The best evaluation: {"step": s, "by": [the ranked values, in order], "metrics": {all at s}}.
    Ranked values compare in rank order, the first that differs deciding (a mixture run's best is
    never a step with fewer modes covered, whatever its KL); the earliest of equals wins. A value an
    evaluation lacks (metrics.* may change on resume) or that is not a number ranks last."""
    if not history:
        return {}
    names = {n for entry in history for n in entry if VALUES.get(n, Value(None)).rank is not None}
    by = sorted(names, key=lambda n: VALUES[n].rank)

    def score(entry: dict) -> tuple:
        def one(n: str) -> float:
            v = entry.get(n)
            if not isinstance(v, (int, float)) or math.isnan(v):
                return -math.inf
            return v if HIGHER_IS_BETTER[n] else -v

        return tuple(one(n) for n in by)

    top = max(history, key=score)  # max keeps the first of equals
    return {"step": top["step"], "by": by, "metrics": {k: v for k, v in top.items() if k != "step"}}
