"""gan-runner: a Hydra-configured command-line runner for GAN training experiments."""

from pathlib import Path

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")  # the configs (conf/ at the top level)
