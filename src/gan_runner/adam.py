"""torch's Adam, with β1 also allowed in (−1, 0): negative momentum (Gidel et al. 2019), which
Chavdarova et al. 2021's bilinear-game Adam baselines use (β1 from −0.9 at full batch to 0 at batch 1).
torch refuses β1 < 0 when it builds the optimizer, though its update is well defined there:
m ← β1·m + (1 − β1)·g and the bias correction 1 − β1ᵗ stay positive."""

import torch


class Adam(torch.optim.Adam):
    def __init__(self, params, lr: float, betas: tuple[float, float], **kwargs):
        beta1, beta2 = betas
        if not -1 < beta1 < 1:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1} (must be in (-1, 1))")
        super().__init__(params, lr=lr, betas=(max(beta1, 0.0), beta2), **kwargs)
        self.defaults["betas"] = (beta1, beta2)  # for parameter groups added later
        for group in self.param_groups:
            group["betas"] = (beta1, beta2)
