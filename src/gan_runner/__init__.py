"""gan-runner: a Hydra-configured command-line runner for GAN training experiments."""

from pathlib import Path

# The configs: conf/ at the top level of a checkout (src/gan_runner/conf links to it), inside the
# package once installed from a wheel
CONF_DIR = str((Path(__file__).parent / "conf").resolve())
