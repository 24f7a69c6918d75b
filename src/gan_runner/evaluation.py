"""What a run measures while it trains: samples from fixed noise and the metrics on them.

The noise comes from its own seeded generator, so evaluating never moves the training RNG: a run
evaluated at other steps, or resumed, trains on exactly the same numbers.
"""

import torch
from torch import Tensor, nn

from .data.mixtures import GaussianMixture
from .metrics.modes import mode_metrics


class Evaluator:
    def __init__(self, metrics_cfg, data, z_dim: int, seed: int, device: torch.device, chunk: int = 4096):
        gen = torch.Generator(device).manual_seed(seed)
        self.z = torch.randn(metrics_cfg.n_samples, z_dim, generator=gen, device=device)
        self.cfg, self.data, self.chunk = metrics_cfg, data, chunk

    @torch.no_grad()
    def samples(self, g: nn.Module, n: int | None = None) -> Tensor:
        """G's output on the first `n` (default: all) of the fixed noise vectors."""
        was_training = g.training
        g.eval()  # no batch-norm statistics updated by evaluation
        out = torch.cat([g(z) for z in self.z[:n].split(self.chunk)])
        g.train(was_training)
        return out

    def metrics(self, g: nn.Module) -> dict[str, float]:
        if isinstance(self.data, GaussianMixture):
            return mode_metrics(self.samples(g), self.data.centers, self.data.sigma, self.cfg.min_fraction)
        return {}  # image metrics (FID, IS) are not in yet
