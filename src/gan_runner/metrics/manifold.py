"""Metrics of the k-nearest-neighbour manifolds of two feature sets, from one generated-to-reference
distance matrix:

- precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
  assessing generative models", §2, k = 3): the fraction of generated samples inside the reference
  manifold (the union of balls reaching each reference sample's k-th nearest neighbour), and of
  reference samples inside the generated manifold; their F-score 2PR / (P + R).
- density and coverage (Naeem et al. 2020, "Reliable fidelity and diversity metrics for generative
  models", §3, k = 5): how many reference balls hold each generated sample, divided by k (a
  precision that counts multiplicity, 1 in expectation for identical distributions), and the
  fraction of reference balls that hold at least one generated sample.

Precision and recall are computed exactly as torch-fidelity's `prc_features_to_metric`
(`torch.cdist` in blocks of 10,000, a radius the (k + 1)-th smallest distance counting the sample
itself, as its `kthvalue(k + 1)`, inside when ≤);
density and coverage as the authors' `prdc` package (strict <). The reference set's radii do not
depend on the generator: an evaluator computes them once (`radii`) and passes them in.
"""

import torch
from torch import Tensor

from ..errors import UserError

BLOCK = 10_000  # torch-fidelity's prc_batch_size: the same blocks, hence the same rounding


def distances(a: Tensor, b: Tensor) -> Tensor:
    """[len(a), len(b)] Euclidean distances, computed block by block."""
    return torch.cat(
        [torch.cat([torch.cdist(x, y) for y in b.split(BLOCK)], dim=1) for x in a.split(BLOCK)]
    )


def radii(x: Tensor, ks: tuple[int, ...]) -> dict[int, Tensor]:
    """{k: each sample's distance to its k-th nearest other sample} for each k in `ks`, a block of
    rows at a time (50,000 samples never make a 50,000² matrix)."""
    if len(x) < max(ks) + 1:
        raise UserError(
            f"The k-nearest-neighbour metrics (precision/recall, density/coverage) need more than "
            f"k = {max(ks)} samples in each set, and one has {len(x)}: lower metrics.prc.k / "
            "metrics.prc.dc_k (or measure more samples)."
        )
    nearest = torch.cat(  # each row's nearest first: the sample itself, at 0
        [
            distances(rows, x).topk(max(ks) + 1, dim=1, largest=False).values
            for rows in x.split(BLOCK)
        ]
    )
    return {k: nearest[:, k] for k in ks}


def manifold(
    generated: Tensor,
    reference: Tensor,
    k: int = 3,
    dc_k: int = 5,
    reference_radii: dict[int, Tensor] | None = None,
) -> dict[str, float]:
    """{precision, recall, f_score, density, coverage} of generated against reference features,
    from the [reference, generated] distances (as torch-fidelity's dist_2_1), a block of generated
    samples at a time."""
    real = reference_radii or radii(reference, (k, dc_k))
    fake = radii(generated, (k,))[k]
    inside, held = [], []  # per generated sample: in some real k-ball; in how many dc_k-balls
    recalled = torch.zeros(len(reference), dtype=torch.bool)  # per real sample: in some fake ball
    closest = torch.full((len(reference),), torch.inf, dtype=reference.dtype)
    for block, radius in zip(generated.split(BLOCK), fake.split(BLOCK)):
        d = distances(reference, block)
        inside.append((d <= real[k][:, None]).any(dim=0))
        held.append((d < real[dc_k][:, None]).sum(dim=0))
        recalled |= (d <= radius[None, :]).any(dim=1)
        closest = torch.minimum(closest, d.min(dim=1).values)
    precision = torch.cat(inside).double().mean().item()
    recall = recalled.double().mean().item()
    return {
        "precision": precision,
        "recall": recall,
        "f_score": 2 * precision * recall / max(1e-5, precision + recall),
        "density": torch.cat(held).double().mean().item() / dc_k,
        "coverage": (closest < real[dc_k]).double().mean().item(),
    }
