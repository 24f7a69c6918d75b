"""The package's shape: every module imports on its own, and the import graph has no cycle."""

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
