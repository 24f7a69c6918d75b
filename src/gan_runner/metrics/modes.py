"""Mode metrics for Gaussian mixtures (Metz et al. 2016; Srivastava et al. 2017; Lin et al. 2018).

A sample is high quality when it lies within 3σ of its nearest mode. A mode is covered when at
least `min_fraction` of all samples are high-quality samples of that mode. KL is
KL(p ‖ uniform) of the histogram p of samples over their nearest modes.
"""

import torch
from torch import Tensor

HIGHER_IS_BETTER = {"modes": True, "high_quality": True, "kl": False}


def mode_metrics(samples: Tensor, centers: Tensor, sigma: float, min_fraction: float) -> dict[str, float]:
    dist, nearest = torch.cdist(samples.flatten(1).float(), centers.float()).min(dim=1)
    good = dist <= 3 * sigma
    n, m = len(samples), len(centers)
    per_mode_good = torch.bincount(nearest[good], minlength=m)
    p = torch.bincount(nearest, minlength=m).double() / n
    kl = torch.special.xlogy(p, p * m).sum()  # 0 log 0 = 0
    return {
        "modes": int((per_mode_good >= min_fraction * n).sum()),
        "high_quality": 100.0 * good.double().mean().item(),
        "kl": kl.item(),
    }
