"""The generator EMA: θ_ema ← β θ_ema + (1 − β) θ after every iteration, of G or, with
Lookahead-Minmax, of its slow G (Chavdarova et al. 2021 evaluate both with and without it).
What a run evaluates and samples from is the EMA when on, else the generator it follows."""

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..metrics import NO_EMA
from . import Off


class NoEMA(Off):
    """Off: the followed generator is evaluated as it is."""

    def __init__(self, followed: nn.Module):
        self.followed = followed

    @property
    def evaluated(self) -> nn.Module:
        return self.followed

    @property
    def evaluations(self) -> dict[str, nn.Module]:
        """The generators each evaluation measures, by the suffix of their metrics' names."""
        return {"": self.evaluated}


class EMA(NoEMA):
    def __init__(self, followed: nn.Module, beta: float):
        super().__init__(followed)
        self.average = AveragedModel(followed, multi_avg_fn=get_ema_multi_avg_fn(beta), use_buffers=True)

    @property
    def evaluated(self) -> nn.Module:
        return self.average.module

    @property
    def evaluations(self) -> dict[str, nn.Module]:
        # the paper's tables give both (Chavdarova et al. 2021, Table 2: "no avg" / "EMA"); training
        # does not depend on the EMA, so one run measures both
        return {"": self.evaluated, NO_EMA: self.followed}

    def after_iteration(self, step: int) -> None:
        self.average.update_parameters(self.followed)

    def state_dict(self) -> dict:
        return self.average.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.average.load_state_dict(state)


def ema(followed: nn.Module, beta: float | None) -> NoEMA:
    return EMA(followed, beta) if beta else NoEMA(followed)
