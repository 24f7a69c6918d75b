"""gan-runner: a Hydra-configured command-line runner for GAN training experiments."""
