"""Sample-quality metrics: each module is a set of plain functions of samples, features or data.

`METRICS` is the one registry: for every metric a run can ask for (`metrics.names`), what it is
computed from, which kinds of dataset it fits (each dataset declares its kind in config.py), which
kinds compute it under `metrics.names=[auto]`, and the numbers it reports with the direction that
is better. Validation, the evaluator, results.json's `best` and the tables read it from here.
"""

from dataclasses import dataclass

# dataset kinds: 2-D Gaussian mixtures; labelled grey digits (MNIST, Fashion-MNIST); labelled
# photos (CIFAR-10, SVHN); stacked MNIST (1000 modes); unlabelled images (an image folder)
KINDS = ("mixture", "digits", "photos", "stacked_digits", "unlabelled")


@dataclass(frozen=True)
class Metric:
    needs: str  # what is prepared before training: "modes" (the mixture's), "classifier", "inception", "test split"
    fits: frozenset[str]  # the dataset kinds it can be computed on
    auto: frozenset[str]  # the kinds that compute it under metrics.names=[auto]
    values: dict  # the numbers it reports -> True (higher is better), False (lower), None (a companion)


LABELLED = frozenset({"digits", "photos"})
IMAGES = frozenset(KINDS) - {"mixture"}
METRICS = {
    "modes": Metric("modes", frozenset({"mixture"}), frozenset({"mixture"}),
                    {"modes": True, "high_quality": True, "kl": False}),
    "fid_classifier": Metric("classifier", LABELLED, frozenset({"digits"}), {"fid_classifier": False}),
    "is_classifier": Metric("classifier", LABELLED, frozenset({"digits"}),
                            {"is_classifier": True, "is_classifier_std": None}),
    "fid_inception": Metric("inception", IMAGES, frozenset({"photos", "unlabelled"}), {"fid_inception": False}),
    "is_inception": Metric("inception", IMAGES, frozenset({"photos", "unlabelled"}),
                           {"is_inception": True, "is_inception_std": None}),
    "stacked_modes": Metric("classifier", frozenset({"stacked_digits"}), frozenset({"stacked_digits"}),
                            {"stacked_modes": True, "stacked_kl": False}),
    "parzen": Metric("test split", LABELLED, frozenset(), {"parzen": True, "parzen_se": None, "parzen_sigma": None}),
}
HIGHER_IS_BETTER = {value: higher for m in METRICS.values() for value, higher in m.values.items()}
# Which evaluation is a run's best: compare these in order (the first that differs decides), e.g.
# modes covered, then high-quality %, for mixtures; FID for images. Others are read at that step.
BEST_BY = ("modes", "high_quality", "stacked_modes", "fid_inception", "fid_classifier", "kl", "stacked_kl",
           "is_inception", "is_classifier", "parzen")


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


def best(history: list[dict[str, float]]) -> dict:
    """The best evaluation by BEST_BY: {"step": s, "by": [the deciding names], "metrics": {all at s}}."""
    if not history:
        return {}
    by = [name for name in BEST_BY if name in history[-1]]

    def rank(entry: dict) -> tuple:
        return tuple(entry[n] if HIGHER_IS_BETTER[n] else -entry[n] for n in by)

    top = max(history, key=rank)  # the earliest of equals
    return {"step": top["step"], "by": by, "metrics": {k: v for k, v in top.items() if k != "step"}}
