"""Generator and discriminator networks. Each `cfg.model` option's `_target_` is a `build`
function taking the data shape and returning `(G, D)`: G maps z of shape (n, z_dim) to samples,
D maps samples to one raw output (a logit) per sample. `model.noise` says how z is drawn."""

import math

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn


def build(model_cfg: DictConfig, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """(G, D) as the model config says (its `noise` is G's input, not the build's)."""
    from ..config.compose import instantiate

    node = {
        k: v for k, v in OmegaConf.to_container(model_cfg, resolve=True).items() if k != "noise"
    }
    return instantiate(OmegaConf.create(node), data_shape=data_shape)


def noise(
    n: int,
    z_dim: int,
    kind: str = "normal",
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """n noise vectors: N(0, I), or uniform with unit variance, U(−√3, √3) (Goodfellow et al. 2014's
    MNIST recipe, goodfeli/adversarial mnist.yaml: `noise: 'uniform'`)."""
    if kind == "uniform":
        return (
            torch.rand(n, z_dim, device=device, generator=generator)
            .mul_(2 * math.sqrt(3))
            .sub_(math.sqrt(3))
        )
    return torch.randn(n, z_dim, device=device, generator=generator)
