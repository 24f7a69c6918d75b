"""Sample-quality metrics. Each module is a set of plain functions of samples, features or data."""

# Which way is better for every number a run reports (None: a companion figure, not ranked);
# results.json's "best" needs it.
HIGHER_IS_BETTER = {
    "modes": True, "high_quality": True, "kl": False,
    "fid_classifier": False, "fid_inception": False,
    "is_classifier": True, "is_classifier_std": None, "is_inception": True, "is_inception_std": None,
    "stacked_modes": True, "stacked_kl": False,
    "parzen": True, "parzen_se": None, "parzen_sigma": None,
}
