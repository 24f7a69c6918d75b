"""Mode metrics on samples whose answer is known by construction."""

import math

import pytest
import torch

from gan_runner.data.mixtures import grid, ring
from gan_runner.metrics.modes import mode_metrics

RING = ring(n_modes=8, radius=2.0, sigma=0.02)


def test_perfect_samples_cover_all_modes_with_zero_kl():
    x = RING.centers.repeat(100, 1)
    m = mode_metrics(x, RING.centers, RING.sigma, min_fraction=0.01)
    assert m == {
        "modes": 8,
        "high_quality": 100.0,
        "kl": pytest.approx(0.0, abs=1e-12),
        "modes_near": 8,
        "clumps": 8,
    }


def test_half_the_modes():
    x = RING.centers[:4].repeat(250, 1)
    m = mode_metrics(x, RING.centers, RING.sigma, min_fraction=0.01)
    assert m["modes"] == 4 and m["high_quality"] == 100.0
    assert m["kl"] == pytest.approx(math.log(2))  # p = 1/4 on 4 modes: Σ p log(8p) = log 2


def test_collapse_to_one_mode():
    m = mode_metrics(RING.centers[:1].repeat(50, 1), RING.centers, RING.sigma, 0.01)
    assert m["modes"] == 1 and m["kl"] == pytest.approx(math.log(8))


def test_kl_counts_only_high_quality_samples():
    # a blob at the centre is equally near every ring mode but good for none: worst KL, not best
    m = mode_metrics(
        torch.zeros(100, 2) + 0.01 * torch.randn(100, 2), RING.centers, RING.sigma, 0.01
    )
    assert (m["modes"], m["high_quality"], m["modes_near"]) == (0, 0.0, 0) and m[
        "kl"
    ] == pytest.approx(math.log(8))
    # half the samples good and spread evenly over all modes, half far off: KL 0
    x = torch.cat([RING.centers.repeat(10, 1), torch.full((80, 2), 10.0)])
    m = mode_metrics(x, RING.centers, RING.sigma, 0.01)
    assert m["high_quality"] == 50.0 and m["kl"] == pytest.approx(0.0, abs=1e-12)


def test_three_sigma_rule_decides_quality():
    c = RING.centers[0]
    offset = torch.tensor([0.0, 1.0])
    inside = c + 2.9 * RING.sigma * offset
    outside = c + 3.1 * RING.sigma * offset
    x = torch.stack([inside] * 30 + [outside] * 70)
    m = mode_metrics(x, RING.centers, RING.sigma, 0.01)
    assert m["high_quality"] == pytest.approx(30.0)
    assert m["modes"] == 1  # 30% of the samples are good samples of mode 0


def test_covered_needs_min_fraction_of_good_samples():
    data = grid(side=5, spacing=2.0, sigma=0.05)
    # 990 samples on mode 0, 10 (1%) on mode 1, 5 (0.5%) on mode 2
    x = torch.cat(
        [
            data.centers[0].repeat(985, 1),
            data.centers[1].repeat(10, 1),
            data.centers[2].repeat(5, 1),
        ]
    )
    assert mode_metrics(x, data.centers, data.sigma, min_fraction=0.01)["modes"] == 2
    assert mode_metrics(x, data.centers, data.sigma, min_fraction=0.005)["modes"] == 3
