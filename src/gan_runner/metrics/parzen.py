"""Parzen-window log-likelihood, Goodfellow et al. 2014's protocol (Table 1; the code of Breuleux
et al.): an isotropic Gaussian kernel of width σ on each of the (10,000) generated samples; σ is
picked from logspace(-1, 0, 10) by the mean log-likelihood of 1,000 held-out validation images;
the reported number is the mean log-likelihood of the test images ± its standard error. Images go
in as flat vectors in [0, 1]."""

import math

import numpy as np
import torch
from torch import Tensor

SIGMAS = np.logspace(-1, 0, 10)


def log_likelihoods(x: Tensor, samples: Tensor, sigmas, chunk: int = 500) -> Tensor:
    """log (1/N Σ_i N(x; s_i, σ²I)) for every σ (rows) and every row of x (columns); the squared
    distances are computed once for all σ."""
    n, d = samples.shape
    out = []
    for part in x.split(chunk):
        sq = torch.cdist(part, samples).pow_(2)
        out.append(
            torch.stack(
                [
                    torch.logsumexp(-sq / (2 * s**2), dim=1)
                    - math.log(n)
                    - d / 2 * math.log(2 * math.pi * s**2)
                    for s in sigmas
                ]
            )
        )
    return torch.cat(out, dim=1)


def parzen(samples: Tensor, validation: Tensor, test: Tensor) -> dict[str, float]:
    samples, validation, test = (t.flatten(1).double() for t in (samples, validation, test))
    best = float(SIGMAS[log_likelihoods(validation, samples, SIGMAS).mean(dim=1).argmax()])
    ll = log_likelihoods(test, samples, [best])[0]
    return {
        "parzen": ll.mean().item(),
        "parzen_se": (ll.std() / math.sqrt(len(ll))).item(),
        "parzen_sigma": best,
    }
