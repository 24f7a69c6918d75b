"""`hydra/launcher=slurm`: hydra-submitit-launcher's Slurm launcher, refusing in one paragraph,
before anything is submitted or written, when this machine has no Slurm to submit to."""

import shutil
import subprocess

from gan_runner.errors import UserError
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher


class CheckedSlurmLauncher(SlurmLauncher):
    def setup(self, **kwargs) -> None:
        if shutil.which("sbatch") is None:
            raise UserError(
                "hydra/launcher=slurm submits through sbatch, which is not on this machine's PATH: "
                "run the sweep on a Slurm login node, or start a local Slurm here with make slurm-up "
                "(Debian's slurm-wlm), or use hydra/launcher=gpu_pool."
            )
        try:
            ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
            answer = (ping.stdout + ping.stderr).strip()
            ok = ping.returncode == 0 and "DOWN" not in answer
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, answer = False, str(e)
        if not ok:
            raise UserError(
                f"hydra/launcher=slurm: no Slurm controller answers here (scontrol ping: "
                f"{answer.splitlines()[-1] if answer else 'no answer'}). Start one (make slurm-up "
                "starts a local Slurm), submit from a node that reaches the cluster's controller, or "
                "use hydra/launcher=gpu_pool."
            )
        super().setup(**kwargs)
