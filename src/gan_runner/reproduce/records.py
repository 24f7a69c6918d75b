"""A reproduction's records, read as data: the reproduce invocations logged in its sweep directory
and its jobs (their results.json, .hydra/ and log tails), which are enough to report on it and to
continue it elsewhere."""

import json
from pathlib import Path

from ..run_dir import CANCELLED, KEPT, RUNNING, RunDir, last_lines, override_key, read_results

LOG = "reproduce.json"  # in the sweep directory: each invocation's command, scale and times


def invocations(out: Path) -> list[dict]:
    """The reproduce commands that ran the sweep in `out` (none when it was run otherwise)."""
    try:
        log = json.loads((out / LOG).read_text())
        return (
            [i for i in log if isinstance(i, dict) and {"started", "ended"} <= i.keys()]
            if isinstance(log, list)
            else []
        )
    except (OSError, ValueError):
        return []


def sweep_values(out: Path) -> dict[str, set[str]] | None:
    """The keys the directory's latest sweep sets (its multirun.yaml: the sweeper's params and the
    task's overrides), each with the values its jobs take; None when that cannot be read."""
    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        h = yaml.safe_load((out / "multirun.yaml").read_text())["hydra"]
        params = [f"{k}={v}" for k, v in (h["sweeper"].get("params") or {}).items()] + list(
            h["overrides"]["task"]
        )
        return {
            override_key(o.input_line): set(o.sweep_string_iterator())
            if o.is_sweep_override()
            else {"", "null"}
            if o.is_delete()
            else {o.get_value_element_as_str()}  # a job records ~k as ~k=null
            for o in OverridesParser.create().parse_overrides(params)
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, HydraException):
        return None


def records(out: Path, finished: bool = False) -> list[dict]:
    """The jobs of the sweep in `out` (summary.runs), with their results.json's history and times. Only
    the latest sweep's jobs count (a directory left by an earlier sweep of other values is not pooled in). A
    job is "running" until the sweep has `finished` when it has no results.json, or an older one than
    its log (an earlier attempt's)."""
    from ..summary import runs

    values, newest = sweep_values(out), {}
    for r in runs([out], finished=finished):
        if values is not None and not (
            r["overrides"].keys() == values.keys()
            and all(v in values[k] for k, v in r["overrides"].items())
        ):
            continue  # an earlier sweep's job
        # one run per point of the sweep: the newest directory of its overrides (a sweep run again)
        key = tuple(sorted(r["overrides"].items())) if values is not None else r["dir"]
        if (
            key not in newest
            or Path(r["dir"]).stat().st_mtime > Path(newest[key]["dir"]).stat().st_mtime
        ):
            newest[key] = r
    found = list(newest.values())
    if values is not None and all(
        values.values()
    ):  # the grid's points no job has started yet (records of a
        import itertools  # sweep still under way, committed elsewhere): not finished

        names = sorted(values)
        for point in itertools.product(*(sorted(values[k]) for k in names)):
            if tuple(zip(names, point)) not in newest:
                newest[tuple(zip(names, point))] = {}
                found.append(
                    {
                        "dir": str(out / "(not started)"),
                        "overrides": dict(zip(names, point)),
                        "choices": {},
                        "config": {},
                        "status": CANCELLED,
                        "step": None,
                        "wall_time_s": None,
                        "final": {},
                        "best": {},
                        "note": "not started",
                    }
                )
    for r in found:
        run = RunDir(Path(r["dir"]))
        results = read_results(run) or {}
        if r["status"] == CANCELLED and not results:
            r.update(history=[], started=None, ended=None, host={}, device={}, info={})
            continue
        if (
            not finished
            and results
            and run.log.exists()
            and run.log.stat().st_mtime > (results.get("ended") or 0) + 2
            and KEPT not in last_lines(run.log, 1)
        ):  # a job a continued sweep kept is not running
            r["status"] = RUNNING
        r.update(
            history=results.get("history", []),
            started=results.get("first_started", results.get("started")),
            ended=results.get("ended"),
            host=results.get("host", {}),
            device=results.get("device", {}),
            info=results.get("info", {}),
        )
    return found
