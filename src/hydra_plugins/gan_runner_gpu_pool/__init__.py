"""gan-runner's Hydra launcher plugin (gpu_pool), found by Hydra in the hydra_plugins namespace."""
