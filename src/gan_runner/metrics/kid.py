"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", §4): the unbiased
estimate of MMD² between two sets of features under the cubic polynomial kernel
k(x, y) = (x·y / d + 1)³, over `subsets` random subsets of `subset_size` features drawn from each
set (without replacement within a subset), reported as the mean ± std over the subsets.

The arithmetic is torch-fidelity's (`kid_features_to_metric`, its defaults: 100 subsets of 1000,
subsets drawn by NumPy's RandomState(2020)), on the runner's own features; unbiased, so a set
against itself scores about 0, either side of it."""

import numpy as np
import torch

from ..errors import UserError

SEED = 2020  # torch-fidelity's rng_seed: the same subsets as its command line draws


def kid(
    generated: np.ndarray, reference: np.ndarray, subsets: int, subset_size: int
) -> dict[str, float]:
    """{"mean", "std"} of the KID between [N, d] generated and [M, d] reference features."""
    if min(len(generated), len(reference)) < subset_size:
        raise UserError(
            f"KID draws subsets of {subset_size} features from each set (metrics.kid.subset_size), "
            f"but it has {len(generated)} generated and {len(reference)} reference samples: lower "
            "metrics.kid.subset_size (or measure more samples)."
        )
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    out = kid_features_to_metric(
        *(torch.as_tensor(np.asarray(f, dtype=np.float32)) for f in (generated, reference)),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=SEED,
        verbose=False,
    )
    return {"mean": out[KEY_METRIC_KID_MEAN], "std": out[KEY_METRIC_KID_STD]}
