"""`gan-runner-reproduce`: run a claim's sweep and report it, re-report a sweep directory, or list
the claims with their scales."""

import sys
import time
from pathlib import Path

from ..errors import UserError
from .claims import claim_of, presets
from .records import invocations
from .report import _minutes, report
from .sweep import run, sweep_dir

SCALES = ("quick", "paper")


def listing(config_dir: str | None = None) -> str:
    lines = []
    for name in presets(config_dir):
        try:
            claim = claim_of(name, config_dir)
        except UserError as e:
            lines.append(f"{name}: {e}")
            continue
        lines.append(f"{name}: {claim['statement']}\n  {claim['paper']}")
        for scale in SCALES:
            s = claim["scales"].get(scale)
            if s is not None:
                extra = " ".join(s["overrides"]) or "the paper's setup as it is"
                here = invocations(sweep_dir(name, scale, []))
                local = (
                    f"; the reproduce commands logged in outputs/reproduce/{name}/{scale}: "
                    f"{_minutes(sum(i['ended'] - i['started'] for i in here))}"
                    if here
                    else ""
                )
                hours = (
                    f"≈ {s['cpu_hours']:g} CPU-hours"
                    if s.get("cpu_hours") is not None
                    else "CPU time not estimated"
                )
                decides = (
                    "decides the claim"
                    if s.get("decides", True)
                    else f"cannot decide it: {s['why_not'].strip()}"
                )
                lines.append(
                    f"  --scale {scale}: {hours}; {decides}\n    {extra}; measured: "
                    f"{s.get('measured') or 'not yet'}{local}"
                )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="gan-runner-reproduce",
        description="Reproduce a published claim: run its experiment preset's sweep (any launcher: overrides such "
        "as hydra/launcher=gpu_pool pass through), then print the paper's table beside ours with the "
        "verdict and write REPORT.md and figure.png into the sweep directory. The same command "
        "again continues an interrupted reproduction.",
        epilog="examples:\n"
        "  gan-runner-reproduce --list\n"
        "  gan-runner-reproduce unrolled_ring --scale quick\n"
        "  gan-runner-reproduce lookahead_mnist hydra/launcher=gpu_pool hydra.launcher.n_jobs=2\n"
        "  gan-runner-reproduce unrolled_ring --report outputs/reproduce/unrolled_ring/quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", help="the claim: an experiment preset (see --list)")
    p.add_argument(
        "overrides", nargs="*", help="gan-runner overrides, e.g. hydra/launcher=gpu_pool"
    )
    p.add_argument(
        "--scale",
        choices=SCALES,
        default="quick",
        help="quick: sized for a 2-core machine (--list says how long each took); paper: the paper's "
        "budget (default quick)",
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="re-tabulate a (partly) finished sweep; no training",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="every claim, its scales, their estimated CPU time and whether they can decide it",
    )
    p.add_argument(
        "--config-dir", help="a directory of your own configs and presets (as gan-runner's)"
    )
    a = p.parse_intermixed_args(argv)
    config_dir = str(Path(a.config_dir).expanduser().absolute()) if a.config_dir else None
    try:
        if a.list:
            print(listing(config_dir))
            return 0
        if a.report is not None:
            if not a.report.is_dir():
                p.error(f"--report: not a directory: {a.report}")
            print(report(a.report, claim_of(a.name, config_dir) if a.name else None)[0])
            return 0
        if not a.name:
            p.error("name a claim (gan-runner-reproduce --list shows them)")
        claim = claim_of(a.name, config_dir)
        if a.scale not in claim["scales"]:
            p.error(f"{a.name} has no {a.scale} scale; it has: {', '.join(claim['scales'])}")
        out = sweep_dir(a.name, a.scale, a.overrides)
        command = " ".join(["gan-runner-reproduce", a.name, "--scale", a.scale, *a.overrides])
        started = time.time()
        status = run(a.name, claim, a.scale, a.overrides, out, config_dir, command)
        if not any(out.rglob(".hydra/overrides.yaml")):
            return status or 1  # the sweep refused its config: its message said why
        text, _ = report(out, claim, command, finished=True)
        print(text)
        print(
            f"(this command: {_minutes(time.time() - started)}; REPORT.md and figure.png in {out})"
        )
        return status
    except UserError as e:
        print(e, file=sys.stderr)
        return 1
