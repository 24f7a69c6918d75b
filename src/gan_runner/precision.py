"""trainer.precision: mixed precision (Micikevicius et al. 2018) for the players' forwards.

The forwards of G and D in each player's loss run under `torch.autocast` in bf16 or fp16 (with
what feeds D there: the lens's view of the real batch, the unrolled D, the gradient penalty's D); the
weights, the optimizers, the losses (D's outputs are cast to fp32 before any loss sees them), the
lens's own step and every metric stay in fp32. fp16's narrow range needs a gradient scaler; each
player has its own, since their losses' scales differ, and the checkpoint holds both. Off (fp32,
bf16) the scalers do nothing and save nothing.
"""

from contextlib import AbstractContextManager

import torch
from torch.amp import GradScaler
from torch.optim import Optimizer

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    def __init__(self, precision: str, device: torch.device, opt_g: Optimizer, opt_d: Optimizer):
        self.dtype, self.device_type = DTYPES[precision], device.type
        self.scaler_g, self.scaler_d = (
            GradScaler(device.type, enabled=precision == "fp16") for _ in range(2)
        )
        self._scalers = {opt_g: self.scaler_g, opt_d: self.scaler_d}

    def forwards(self) -> AbstractContextManager:
        """The context the players' losses are computed in (their backward runs outside it)."""
        return torch.autocast(self.device_type, self.dtype, enabled=self.dtype is not None)

    def scaled(self, opt: Optimizer, loss: torch.Tensor) -> torch.Tensor:
        """The loss to take the optimizer's players' gradients of (multiplied by their scale with fp16)."""
        return self._scalers[opt].scale(loss)

    def step(self, opt: Optimizer) -> None:
        """The optimizer's step; with fp16 from unscaled gradients, skipped where any is not finite
        (the scaler then shrinks, as torch.amp does it: a host read per step). Each step updates the
        scale: extragradient's two per iteration count twice toward its growth interval."""
        scaler = self._scalers[opt]
        scaler.step(opt)
        scaler.update()

    def state(self) -> dict:
        return {"scaler_g": self.scaler_g, "scaler_d": self.scaler_d}
