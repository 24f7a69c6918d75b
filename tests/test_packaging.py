"""The runner as a user installs it: a wheel (not editable) in a fresh virtual environment, run
from a directory that is not the repository, with the configs it ships and a user's own."""

import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """gan-runner's wheel, built from a copy of the repository (a build writes build/ and *.egg-info)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "src", "conf"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    return next(out.glob("gan_runner-*.whl"))


def test_the_wheel_ships_every_config_and_every_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {
        f"gan_runner/conf/{p.relative_to(REPO / 'conf')}" for p in (REPO / "conf").rglob("*.yaml")
    }
    modules = {
        str(p.relative_to(REPO / "src"))
        for p in (REPO / "src").rglob("*.py")
        if "egg-info" not in str(p)
    }
    assert configs and configs <= names, sorted(configs - names)
    assert modules <= names, sorted(modules - names)


@pytest.mark.slow
def test_an_installed_wheel_trains_from_another_directory_with_a_users_preset(wheel, tmp_path):
    """A fresh venv holds only the wheel; the dependencies (torch's several GB) are borrowed from
    this environment's site-packages by a path entry, which adds their directory but not the
    editable install's own .pth, so `gan_runner` can only come from the wheel."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bin_ = venv / "bin"
    purelib = Path(
        subprocess.run(
            [bin_ / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            bin_ / "python",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    where = subprocess.run(
        [
            bin_ / "python",
            "-c",
            "import gan_runner; print(gan_runner.__file__, gan_runner.CONF_DIR)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(p.startswith(str(venv)) for p in where), (
        where
    )  # the wheel's code and configs, not the checkout's
    plugins = subprocess.run(
        [
            bin_ / "python",
            "-c",
            "import hydra_plugins, pkgutil; "
            "print(*(m.name for m in pkgutil.iter_modules(hydra_plugins.__path__)))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert {"gan_runner_gpu_pool", "gan_runner_slurm"} <= set(plugins)  # Hydra finds the launchers

    user = tmp_path / "my_conf" / "experiment"  # a user's preset beside the shipped ones (README)
    user.mkdir(parents=True)
    (user / "tiny_ring.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /loss: lsgan\n"
        "trainer:\n  steps: 6\n  batch_size: 16\n  eval_every: 0\n"
        "  sample_every: 0\n  log_every: 3\nmetrics:\n  n_samples: 200\n"
    )
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    run = subprocess.run(
        [
            bin_ / "gan-runner",
            "--config-dir",
            str(user.parent),
            "+experiment=tiny_ring",
            "hydra.run.dir=outputs/tiny",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((cwd / "outputs" / "tiny" / "results.json").read_text())
    assert results["status"] == "completed" and results["step"] == 6
    assert "kl" in results["final"]
    assert (
        "gan_runner.losses.lsgan"
        in (cwd / "outputs" / "tiny" / ".hydra" / "config.yaml").read_text()
    )
