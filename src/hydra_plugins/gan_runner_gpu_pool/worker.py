"""A warm job process for gpu_pool. Started in its slot's environment (CUDA_VISIBLE_DEVICES, the
thread count) while the slot's job still runs, it imports torch, Hydra and gan-runner, then waits for
its job on stdin: one JSON line, the application's argv, the job's log file and the directory the
job runs in (the sweep's, which its relative paths are relative to). The slot's next job
then starts at once instead of after the seconds of start-up. Without a job (EOF: the sweep ended or
was stopped) it exits quietly. Nothing heavy is imported at module level: Hydra imports every module
of its plugin packages when it scans them."""

import importlib
import json
import os
import runpy
import sys

# what a gan-runner job imports before it trains (its lazy imports included), heaviest first
PRELOADED = (
    "torch",
    "torchvision",
    "torch.utils.tensorboard",
    "hydra.main",
    "gan_runner.cli",
    "gan_runner.trainer",
    "gan_runner.preflight",
    "gan_runner.metrics",
)


def main() -> None:
    safe_path = getattr(sys.flags, "safe_path", False)  # Python >= 3.11: -P, PYTHONSAFEPATH
    if (
        not safe_path
    ):  # `-m` put the working directory first; a script's process has its own directory
        del sys.path[0]
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # the job imports it again, and its launcher.log then says why it fails
            pass
    line = sys.stdin.readline()
    if not line:
        return
    job = json.loads(line)
    os.chdir(job["cwd"])
    log = os.open(
        job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
    )  # failing: exit 1, no results
    for fd in (1, 2):  # the job's output goes to its launcher.log, as a fresh process's would
        os.dup2(log, fd)
    os.close(log)
    sys.stdin = open(os.devnull)
    sys.argv = job["argv"]
    if not safe_path:
        sys.path.insert(
            0, os.path.dirname(os.path.realpath(job["argv"][0]))
        )  # as `python SCRIPT` has it
    runpy.run_path(
        job["argv"][0], run_name="__main__"
    )  # the application exits with the job's status


if __name__ == "__main__":
    main()
