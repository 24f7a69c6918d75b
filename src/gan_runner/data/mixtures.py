"""Toy 2-D mixtures of equal-weight isotropic Gaussians, sampled directly on the device."""

import math

import torch
from torch import Tensor


class GaussianMixture:
    def __init__(self, centers: Tensor, sigma: float):
        self.centers = centers
        self.sigma = sigma
        self.shape = tuple(centers.shape[1:])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = self.centers.device
        mode = torch.randint(len(self.centers), (n,), device=device, generator=generator)
        noise = torch.randn(n, *self.shape, device=device, generator=generator)
        return self.centers[mode] + self.sigma * noise


def ring(n_modes: int, radius: float, sigma: float, device: torch.device | str = "cpu") -> GaussianMixture:
    """`n_modes` Gaussians at angles 2πk/n_modes, k = 0..n_modes-1 (no repeated endpoint)."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    centers = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(centers.float().to(device), sigma)


def grid(side: int, spacing: float, sigma: float, device: torch.device | str = "cpu") -> GaussianMixture:
    """side × side Gaussians on a square lattice centred on the origin ({-4,-2,0,2,4}² for 5, 2.0)."""
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    centers = torch.cartesian_prod(axis, axis)
    return GaussianMixture(centers.to(device), sigma)
