"""How saturated the generator's loss is (Goodfellow et al. 2014, §3): early in learning D rejects
G's samples with confidence, D(G(z)) ≈ 0, where the minimax loss log(1 − D(G(z))) is flat (its
derivative in D's logit is −D(G(z))) while the non-saturating −log D(G(z)) is steep (−(1 − D(G(z)))).
Measured on both players as they are, in eval mode (no dropout noise, no RNG drawn), on fixed noise:
the mean D(G(z)), the norm of G's gradient under each loss and under the run's own, and their ratio.
"""

import torch
from torch import Tensor, nn
from torch.nn.utils import get_total_norm

from ..losses import bce_real, saturating_g


def saturation(G: nn.Module, D: nn.Module, z: Tensor, g_loss) -> dict[str, float]:
    modes = [m.training for m in (G, D)]
    G.eval(), D.eval()
    try:
        with torch.enable_grad():
            logits = D(G(z))
            params = [p for p in G.parameters() if p.requires_grad]
            norms = {
                name: get_total_norm(
                    torch.autograd.grad(fn(logits), params, retain_graph=True)
                ).item()
                for name, fn in (
                    ("g_grad_minimax", saturating_g),
                    ("g_grad_nonsaturating", bce_real),
                    ("g_grad", g_loss),
                )
            }
    finally:
        for m, training in zip((G, D), modes):
            m.train(training)
    return {
        "d_fake": torch.sigmoid(logits.detach()).mean().item(),
        **norms,
        "saturation_ratio": norms["g_grad_minimax"] / max(norms["g_grad_nonsaturating"], 1e-30),
    }
