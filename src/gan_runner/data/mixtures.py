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
        """The 2-D samples as a scatter (blue) over the mode centres (red crosses), and beside it their
        kernel density estimate (Gaussian kernels, Scott's bandwidth), as the LSGAN and Unrolled-GAN
        figures show them; HxWx3 uint8."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # slow to import: on first use
        from matplotlib.figure import Figure
        from scipy.stats import gaussian_kde

        fig = Figure(figsize=(10, 5), dpi=100)
        scatter, density = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        xy, c = (
            samples.detach().flatten(1)[:, :2].double().cpu().numpy(),
            self.centers.cpu().numpy(),
        )
        lim = 1.5 * abs(c).max() + 0.5
        scatter.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.3, linewidths=0, label="G(z)")
        grid = np.linspace(-lim, lim, 120)
        try:
            kde = gaussian_kde(xy[:2500].T)
            gx, gy = np.meshgrid(grid, grid)
            density.contourf(
                gx,
                gy,
                kde(np.stack([gx.ravel(), gy.ravel()])).reshape(gx.shape),
                levels=30,
                cmap="Greens",
            )
        except (
            np.linalg.LinAlgError,
            ValueError,
        ):  # all samples on one point or one line: no density
            density.text(0, 0, "no density (samples on a point or a line)", ha="center", fontsize=9)
        for ax, name in ((scatter, title), (density, "density (KDE)")):
            ax.scatter(c[:, 0], c[:, 1], s=40, marker="x", c="red", label="modes")
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=name)
        scatter.legend(loc="upper right", fontsize="small")
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    def state_dict(self) -> dict:
        return {}  # samples come from the global RNG, which the checkpoint holds

    def load_state_dict(self, state: dict) -> None:
        pass


def ring(
    n_modes: int, radius: float, sigma: float, device: torch.device | str = "cpu"
) -> GaussianMixture:
    """`n_modes` Gaussians at angles 2πk/n_modes, k = 0..n_modes-1 (no repeated endpoint)."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    centers = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(centers.float().to(device), sigma)


def grid(
    side: int, spacing: float, sigma: float, device: torch.device | str = "cpu"
) -> GaussianMixture:
    """side × side Gaussians on a square lattice centred on the origin ({-4,-2,0,2,4}² for 5, 2.0)."""
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    centers = torch.cartesian_prod(axis, axis)
    return GaussianMixture(centers.to(device), sigma)
