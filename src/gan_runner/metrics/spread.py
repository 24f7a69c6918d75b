"""How far samples spread: √(the total variance), √(E‖x − E x‖²), the root mean squared distance
to their mean. One point (a collapsed generator) has 0; the 4,000 training digits of the quick
scales about 7.2 in [0, 1] pixel units. A claim's precondition compares G's with the data's."""

from torch import Tensor


def spread(x: Tensor) -> float:
    x = x.flatten(1).double()
    return (x - x.mean(0)).pow(2).sum(1).mean().sqrt().item()
