"""Datasets. Each is built from `cfg.dataset` by Hydra's `instantiate(..., device=...)` and offers
`shape` (of one sample) and `sample(n)`: a fresh batch, already on the training device."""
