"""Inception score (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))), mean ± std over splits,
from any classifier's class probabilities (Inception's, or the runner's own classifier's)."""

import numpy as np

SPLITS = 10  # Salimans et al.'s code: the score's mean ± std over 10 splits


def inception_score(probs: np.ndarray, splits: int = SPLITS) -> tuple[float, float]:
    scores = []
    for part in np.array_split(np.asarray(probs, dtype=np.float64), splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (
            part * (np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None)))
        ).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
