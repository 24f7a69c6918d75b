"""Sample-quality metrics. Each module is a set of plain functions of samples and data."""

# Which way is better, for every metric a run can report (results.json's "best" needs it).
HIGHER_IS_BETTER = {"modes": True, "high_quality": True, "kl": False}
