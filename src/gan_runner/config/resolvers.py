"""The resolvers the configs use (`${name:...}`): values derived from other settings, so an option
brings what it needs; registered by `config.store.register`."""

from typing import Any

from omegaconf import DictConfig

from .fields import Output


def pick(key: Any, table: dict) -> Any:
    """`${pick:KEY,{VALUE: SETTING, ...}}`: the setting for a value, e.g. a paper's step size for each
    batch size (conf/experiment/bilinear/)."""
    if key not in table:
        raise ValueError(
            f"{key!r} has no setting here: it must be one of {', '.join(map(str, table))}"
        )
    return table[key]


def interval_scaled(interval: int, steps: int, paper_steps: int) -> int:
    """`${interval_scaled:N,${trainer.steps},PAPER_STEPS}`: an interval in iterations (Lookahead's k,
    the lens's K) kept in proportion to a shorter budget; the paper's N at its own budget."""
    return max(1, round(interval * steps / paper_steps))


def ema_scaled(beta: float, steps: int, paper_steps: int) -> float:
    """`${ema_scaled:β,${trainer.steps},PAPER_STEPS}`: β^(PAPER_STEPS / steps), an EMA whose decay over
    the whole run is the paper's (its horizon 1/(1 − β) shrinks with the budget); the paper's β at
    its own budget."""
    return round(beta ** (paper_steps / steps), 12)


def divide(numerator: int, denominator: int) -> int:
    """`${divide:A,B}`: A // B, e.g. D's width as a fraction of G's (conf/experiment/stacked_d/)."""
    return numerator // denominator


# Options that need a setting elsewhere bring it: each is derived from the option, and a value set by
# hand that contradicts it is still refused (rules.py).
def data_range(output: Output) -> list[float]:
    """`${data_range:${model.output}}`: an image dataset's value range, the one G's last activation
    produces (model=goodfellow_mlp's sigmoid: [0, 1]; tanh: [-1, 1])."""
    return [0.0, 1.0] if output == Output.sigmoid else [-1.0, 1.0]


def g_output(*, _root_: DictConfig) -> str:
    """`${g_output:}`: the last activation of a G for any data (model=mlp): none for 2-D points,
    tanh for images (the datasets with a value range: its key, not its value, which follows this)."""
    return "tanh" if "range" in _root_.dataset.keys() else "none"


def order_for(extragradient: bool) -> str:
    """`${order_for:${optimizer.extragradient}}`: extragradient is Gidel et al.'s joint method (both
    players extrapolate together): simultaneous; otherwise Algorithm 1's alternating order."""
    return "simultaneous" if extragradient else "alternating"


# The trainer's defaults for each kind of data (conf/trainer/default.yaml): the toy mixtures the
# Unrolled-GAN appendix's 25,000 steps of 512; images DCGAN's batches of 64 (Radford et al. 2016),
# with budgets whose end a CPU sees for digits (the DCGAN's 10,000 steps ≈ 13 min on 2 cores:
# README) and an evaluation, samples and a checkpoint ten times a run
FOR_DATA = {
    "mixture": {"steps": 25000, "batch_size": 512, "every": 5000},
    "game": {"steps": 25000, "batch_size": 100, "every": 5000},
    "digits": {"steps": 10000, "batch_size": 64, "every": 1000},
    "stacked_digits": {"steps": 20000, "batch_size": 64, "every": 2000},
    "photos": {"steps": 50000, "batch_size": 64, "every": 5000},
    "unlabelled": {"steps": 50000, "batch_size": 64, "every": 5000},
}


def for_data(key: str, *, _root_: DictConfig) -> int:
    """`${for_data:steps}`: the trainer's default `key` for the run's kind of data (FOR_DATA)."""
    from .rules import dataset_kind

    return FOR_DATA[dataset_kind(_root_.dataset)][key]


RESOLVERS = {
    f.__name__: f
    for f in (pick, interval_scaled, ema_scaled, divide, data_range, g_output, order_for, for_data)
}
