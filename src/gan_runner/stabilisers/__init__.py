"""The stabilisers, each an object the game calls every iteration and each doing nothing when off:
the step rule (plain or extragradient), the unrolled discriminator G's loss is taken against, the
tempered lens in front of D, Lookahead-Minmax's joint backtrack, and the generator EMA."""


class Off:
    """What a stabiliser that is off answers each iteration and to the checkpoint: nothing."""

    def after_iteration(self, step: int) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
