"""Datasets. Each is built from `cfg.dataset` by Hydra's `instantiate(..., device=...)` and offers
`shape` (of one sample), `sample(n)` (a fresh batch, already on the training device, in the
model's value range), `preview` and `show(samples)` (how many samples to picture, and the picture:
a scatter over the modes or an image grid, HxWx3 uint8), and `state_dict`/`load_state_dict` (any
sampling state beyond the global RNG, for exact resume)."""
