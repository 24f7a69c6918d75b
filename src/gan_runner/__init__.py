"""gan-runner: a Hydra-configured command-line runner for GAN training experiments."""

from pathlib import Path

# The configs: conf/ at the top level of a checkout (and of an editable install); inside the package
# once installed from a wheel (pyproject.toml maps conf/ to gan_runner/conf)
_HERE = Path(__file__).resolve().parent
CONF_DIR = str(_HERE / "conf" if (_HERE / "conf").is_dir() else _HERE.parents[1] / "conf")
