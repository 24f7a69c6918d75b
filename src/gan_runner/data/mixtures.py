"""Toy 2-D mixtures of equal-weight isotropic Gaussians, sampled directly on the device."""

import math

import numpy as np
import torch
from torch import Tensor


class GaussianMixture:
    preview = 2500  # points in the scatter logged every trainer.sample_every steps

    def __init__(self, centers: Tensor, sigma: float):
        self.centers = centers
        self.sigma = sigma
        self.shape = tuple(centers.shape[1:])

    def sample(self, n: int) -> Tensor:
        device = self.centers.device
        mode = torch.randint(len(self.centers), (n,), device=device)
        noise = torch.randn(n, *self.shape, device=device)
        return self.centers[mode] + self.sigma * noise

    def show(self, samples: Tensor, title: str = "") -> np.ndarray:
        """A scatter of 2-D samples (blue) over the mode centres (red crosses), HxWx3 uint8."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # slow to import: on first use
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 5), dpi=100)
        ax = fig.add_subplot()
        xy, c = samples.detach().flatten(1)[:, :2].cpu().numpy(), self.centers.cpu().numpy()
        ax.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.3, linewidths=0, label="G(z)")
        ax.scatter(c[:, 0], c[:, 1], s=40, marker="x", c="red", label="modes")
        lim = 1.5 * abs(c).max() + 0.5
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
        ax.legend(loc="upper right", fontsize="small")
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    def state_dict(self) -> dict:
        return {}  # samples come from the global RNG, which the checkpoint holds

    def load_state_dict(self, state: dict) -> None:
        pass


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
