"""The toy mixtures: where the modes are, and that sampling follows the mixture."""

import math

import torch

from gan_runner.data.mixtures import grid, ring


def test_ring_modes_are_eight_distinct_points_on_the_circle():
    data = ring(n_modes=8, radius=2.0, sigma=0.02)
    c = data.centers
    assert c.shape == (8, 2) and data.shape == (2,)
    torch.testing.assert_close(c.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(c[:, 1], c[:, 0]) % (2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8) * (2 * math.pi / 8), atol=1e-6, rtol=0)
    assert torch.cdist(c, c).add(torch.eye(8) * 10).min() > 1.5  # no repeated endpoint


def test_grid_modes():
    c = grid(side=5, spacing=2.0, sigma=0.05).centers
    assert c.shape == (25, 2)
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {(round(x), round(y)) for x, y in c.tolist()} == expected


def test_sampling_follows_the_mixture():
    torch.manual_seed(0)
    data = ring(n_modes=8, radius=2.0, sigma=0.02)
    n = 80_000
    x = data.sample(n)
    dist, nearest = torch.cdist(x, data.centers).min(dim=1)
    counts = torch.bincount(nearest, minlength=8).float()
    # multinomial counts: sd = sqrt(n p (1 - p)) ≈ 94; allow 5 sd
    assert (counts - n / 8).abs().max() < 5 * math.sqrt(n * (1 / 8) * (7 / 8))
    # per-coordinate spread is σ (relative error of a sd estimate from 80k samples ≈ 0.25%)
    spread = (x - data.centers[nearest]).std(dim=0)
    torch.testing.assert_close(spread, torch.full((2,), 0.02), rtol=0.02, atol=0)
    assert dist.max() < 6 * 0.02 * 2  # nothing far from its mode


def test_sampling_is_seeded():
    data = grid(side=5, spacing=2.0, sigma=0.05)
    torch.manual_seed(3)
    a = data.sample(100)
    torch.manual_seed(3)
    assert torch.equal(a, data.sample(100))


def test_a_subset_of_images_stored_class_by_class_meets_every_class():
    """The data's spread, the FID floor and the lens figure read a subset: spread evenly over a set
    stored class by class (the 5,000 digits, image folders), it holds every class, not the first few."""
    from gan_runner.data.images import TensorImages

    labels = torch.arange(10).repeat_interleave(400)  # 4,000 images, 400 a class, in class order
    data = TensorImages(
        labels.view(-1, 1, 1, 1).to(torch.uint8).expand(-1, 1, 2, 2).clone(), labels, [-1, 1], "cpu"
    )
    subset = torch.cat(list(data.batches(300, limit=1000)))
    assert (
        len(subset) == 1000
        and torch.bincount(subset[:, 0, 0, 0].long(), minlength=10).tolist() == [100] * 10
    )
    assert data.evenly(20)[:, 0, 0, 0].tolist() == [c for c in range(10) for _ in range(2)]
    assert len(torch.cat(list(data.batches(999)))) == 4000  # no limit: all, in order
