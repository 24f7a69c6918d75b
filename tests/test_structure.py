"""The package's shape: every module imports on its own, the import graph has no cycle, and imports
go down the layers only."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "gan_runner").rglob("*.py")) + sorted(
        (SRC / "hydra_plugins").rglob("*.py")
    ):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `name` imports (at any depth of its code: a lazy import is still a dependency)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (
                package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            )
            module = ".".join([*base, *([node.module] if node.module else [])])
            deps |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            deps |= {alias.name for alias in node.names}
    parents = {
        ".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)
    }  # importing runs their __init__
    return {d for d in deps | parents if d in known and d != name}


def test_the_import_graph_has_no_cycle():
    mods = modules()
    graph = {name: imports(name, path, set(mods)) for name, path in mods.items()}
    assert (
        graph["gan_runner.errors"] == graph["gan_runner.files"] == {"gan_runner"}
    )  # the bottom layer
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(
                [*stack[stack.index(dep) :], dep]
            )
            if dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


# Bottom to top: a module imports from its own layer and those below, never from above.
LAYERS = {
    "base": "bad input, atomic files, the console, signals, the device: what every layer may use",
    "records": "the run directory, checkpoints, sweep summaries and tables: records read as data",
    "numerics": "optimizers, losses, precision, metrics: computations on tensors, no config",
    "config": "the schema, its rules, composition and registration: what a run may be",
    "parts": "data, models, the bilinear game, stabilisers: what a run is built from",
    "training": "the game, evaluation, objective, pre-flight, resume, the run's log, the trainer",
    "reports": "a claim, its verdict, report and figure: reproductions read from records",
    "commands": "the entry points, running a reproduction's sweep, the launchers",
}
LAYER_OF = {
    "gan_runner": "base",
    "gan_runner.errors": "base",
    "gan_runner.files": "base",
    "gan_runner.console": "base",
    "gan_runner.signals": "base",
    "gan_runner.device": "base",
    "gan_runner.run_dir": "records",
    "gan_runner.checkpoint": "records",
    "gan_runner.summary": "records",
    "gan_runner.tables": "records",
    "gan_runner.adam": "numerics",
    "gan_runner.losses": "numerics",
    "gan_runner.precision": "numerics",
    "gan_runner.metrics": "numerics",
    "gan_runner.config": "config",
    "gan_runner.data": "parts",
    "gan_runner.models": "parts",
    "gan_runner.bilinear": "parts",
    "gan_runner.stabilisers": "parts",
    "gan_runner.game": "training",
    "gan_runner.evaluation": "training",
    "gan_runner.objective": "training",
    "gan_runner.preflight": "training",
    "gan_runner.resume": "training",
    "gan_runner.runlog": "training",
    "gan_runner.trainer": "training",
    "gan_runner.reproduce": "reports",
    "gan_runner.reproduce.claims": "reports",
    "gan_runner.reproduce.verdict": "reports",
    "gan_runner.reproduce.report": "reports",
    "gan_runner.reproduce.figure": "reports",
    "gan_runner.reproduce.sweep": "commands",
    "gan_runner.reproduce.command": "commands",
    "gan_runner.cli": "commands",
    "hydra_plugins": "commands",
}


def layer(module: str) -> int:
    """The layer of a module: its own entry, else its closest package's."""
    parts = module.split(".")
    owner = next(
        ".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in LAYER_OF
    )
    return list(LAYERS).index(LAYER_OF[owner])


def test_imports_go_down_the_layers_only():
    mods = modules()
    up = [
        f"{name} ({list(LAYERS)[layer(name)]}) imports {dep} ({list(LAYERS)[layer(dep)]})"
        for name, path in mods.items()
        for dep in sorted(imports(name, path, set(mods)))
        if layer(dep) > layer(name) and not name.startswith(dep + ".")  # a package's own __init__
    ]
    assert not up, "\n".join(up)


@pytest.mark.slow
def test_every_module_imports_alone():
    """Each in a fresh interpreter: no module works only because another was imported first."""
    names, failed = list(modules()), {}
    for i in range(0, len(names), 4):  # four at a time: each may load torch
        procs = {
            n: subprocess.Popen(
                [sys.executable, "-c", f"import {n}"], stderr=subprocess.PIPE, text=True
            )
            for n in names[i : i + 4]
        }
        failed |= {
            n: p.communicate()[1].strip().splitlines()[-1:] for n, p in procs.items() if p.wait()
        }
    assert not failed


def test_no_torch_below_the_run_directory():
    """The launchers, the sweep summary and the run directory's owner start without torch."""
    code = (
        "import sys, gan_runner.run_dir, gan_runner.summary, gan_runner.files, gan_runner.errors, "
        "hydra_plugins.gan_runner_gpu_pool.gpu_pool_launcher; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_registers_nothing():
    """The schema and resolvers are registered by the entry points (config.store.register), never as
    a side effect of importing a module, the launcher plugins included."""
    code = (
        "import gan_runner.cli, gan_runner.trainer, gan_runner.reproduce.command, "
        "hydra_plugins.gan_runner_gpu_pool.gpu_pool_launcher, hydra_plugins.gan_runner_slurm.slurm_launcher\n"
        "from hydra.core.config_store import ConfigStore\n"
        "from omegaconf import OmegaConf\n"
        "registered = lambda: ('schema.yaml' in ConfigStore.instance().repo, OmegaConf.has_resolver('job_dirname'))\n"
        "assert registered() == (False, False), registered()\n"
        "from gan_runner.config.store import register\n"
        "register()\n"
        "assert registered() == (True, True), registered()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
