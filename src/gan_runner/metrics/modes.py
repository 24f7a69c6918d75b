"""Mode metrics for Gaussian mixtures (Metz et al. 2016; Srivastava et al. 2017; Lin et al. 2018).

A sample is high quality when it lies within 3σ of its nearest mode. A mode is covered when at
least `min_fraction` of all samples are high-quality samples of that mode. KL is KL(p ‖ uniform)
of the histogram p of the high-quality samples over their modes: how evenly the good samples
spread. With no high-quality sample at all, KL is log(#modes), its value for total collapse, so
that a generator far from every mode never scores a good KL.
"""

import math

import torch
from torch import Tensor

SECTORS = 72  # clumps: 5° sectors of the circle


def mode_metrics(
    samples: Tensor, centers: Tensor, sigma: float, min_fraction: float, near: float = 0.1
) -> dict[str, float]:
    """Modes covered, % high quality and KL; `modes_near`: the modes covered within a distance `near`
    instead of 3σ (a looser reading: the mixture's modes found, if not as sharp as the data's); for a
    mixture on a circle, `clumps`: the runs of consecutive 5° sectors that each hold `min_fraction`
    of the samples (8 for a G that found 8 separate modes anywhere on the circle, 1 for one arc)."""
    dist, nearest = torch.cdist(samples.flatten(1).float(), centers.float()).min(dim=1)
    good = dist <= 3 * sigma
    n, m = len(samples), len(centers)
    per_mode_good = torch.bincount(nearest[good], minlength=m)
    n_good = int(per_mode_good.sum())
    p = per_mode_good.double() / max(n_good, 1)
    kl = torch.special.xlogy(p, p * m).sum().item() if n_good else math.log(m)  # 0 log 0 = 0
    out = {
        "modes": int((per_mode_good >= min_fraction * n).sum()),
        "high_quality": 100.0 * n_good / n,
        "kl": kl,
        "modes_near": int(
            (torch.bincount(nearest[dist <= near], minlength=m) >= min_fraction * n).sum()
        ),
    }
    radii = centers.float().norm(dim=1)
    if torch.allclose(radii, radii[0]) and centers.shape[1] == 2:
        out["clumps"] = clumps(samples.flatten(1).float(), min_fraction)
    return out


def clumps(samples: Tensor, min_fraction: float) -> int:
    """Runs of consecutive (circularly) 5° sectors, around the origin, each holding `min_fraction`
    of the samples."""
    angle = torch.atan2(samples[:, 1], samples[:, 0])
    sector = ((angle + math.pi) / (2 * math.pi) * SECTORS).long().clamp_(0, SECTORS - 1)
    full = (torch.bincount(sector, minlength=SECTORS) >= min_fraction * len(samples)).tolist()
    if all(full):
        return 1
    return sum(f and not prev for f, prev in zip(full, full[-1:] + full[:-1]))


def stacked_modes(digits: Tensor) -> dict[str, float]:
    """Stacked MNIST (1000 modes): `digits` [N, 3] are the classified digits of each sample's three
    channels; a mode is covered when any sample falls in it; KL(mode histogram ‖ uniform)."""
    modes = (digits.long() * torch.tensor([100, 10, 1], device=digits.device)).sum(dim=1)
    hist = torch.bincount(modes, minlength=1000).double()
    p = hist / hist.sum()
    return {
        "stacked_modes": int((hist > 0).sum()),
        "stacked_kl": torch.special.xlogy(p, p * 1000).sum().item(),
    }
