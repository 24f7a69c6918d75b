"""Parzen-window log-likelihood, Goodfellow et al. 2014's protocol (Table 1; the code of Breuleux
et al.): an isotropic Gaussian kernel of width σ on each of the generated samples; σ is picked from
logspace(-1, 0, 10) by the mean log-likelihood of a validation set; the reported number is the mean
log-likelihood of the test set ± its standard error. Images go in as flat vectors in [0, 1]."""

import math

import numpy as np
import torch
from torch import Tensor

SIGMAS = np.logspace(-1, 0, 10)


def log_likelihood(x: Tensor, samples: Tensor, sigma: float, chunk: int = 500) -> Tensor:
    """log (1/N Σ_i N(x; s_i, σ²I)) for every row of x."""
    n, d = samples.shape
    const = math.log(n) + d / 2 * math.log(2 * math.pi * sigma**2)
    out = [torch.logsumexp(-torch.cdist(part, samples).pow(2) / (2 * sigma**2), dim=1) - const
           for part in x.split(chunk)]
    return torch.cat(out)


def parzen(samples: Tensor, validation: Tensor, test: Tensor) -> dict[str, float]:
    samples, validation, test = (t.flatten(1).double() for t in (samples, validation, test))
    best = max(SIGMAS, key=lambda s: log_likelihood(validation, samples, s).mean().item())
    ll = log_likelihood(test, samples, best)
    return {"parzen": ll.mean().item(), "parzen_se": (ll.std() / math.sqrt(len(ll))).item(), "parzen_sigma": best}
