"""What a run reports: TensorBoard events in the run directory, sample plots under `samples/`,
and progress on the console (a bar on a terminal, plain log lines in batch logs)."""

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from PIL import Image, ImageDraw
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from .config.compat import flatten
from .console import count, duration
from .metrics import VALUES, shown
from .run_dir import RunDir

log = logging.getLogger("gan_runner")
SLOWER = 3  # steps/s this many times below the run's start: a warning, once
# what each TensorBoard scalar counts in (its TEXT tab, "units"): the tags stay the results' names
UNITS = {
    **{
        f"metrics/{name}": ("out of " + v.unit[1:]).replace("modes_total", "the data's modes")
        if v.unit.startswith("/")
        else v.unit
        for name, v in VALUES.items()
        if v.unit
    },
    "D/real": "D's mean raw output on real data (a logit for the sigmoid losses)",
    "D/fake": "D's mean raw output on G's samples (a logit for the sigmoid losses)",
}
progress = logging.getLogger("gan_runner.progress")  # the periodic scalar lines


class RunLogger:
    def __init__(self, run: RunDir, start_step: int, total_steps: int):
        self.run = run
        # purge_step hides events a previous attempt logged after its last checkpoint
        self.writer = SummaryWriter(
            str(run.path), purge_step=start_step + 1 if start_step else None
        )
        self.total = total_steps
        self.bar = None
        if sys.stdout.isatty():
            self.bar = tqdm(
                total=total_steps, initial=start_step, dynamic_ncols=True, file=sys.stdout
            )
            self._redirect = logging_redirect_tqdm()  # log lines print above the bar ...
            self._redirect.__enter__()
            for (
                handler
            ) in logging.getLogger().handlers:  # ... but the bar shows the scalars instead
                if not isinstance(handler, logging.FileHandler):
                    handler.addFilter(lambda record: record.name != progress.name)
        self._last = (start_step, time.perf_counter())
        self._paused = 0.0  # seconds spent evaluating since the last log line: not training time
        self.info: dict = {}  # the evaluator's (metrics.shown reads totals from it: modes 3/8)
        self._start_rate: float | None = None  # steps/s over the attempt's first log interval
        self._slow_said = False

    def scalars(self, step: int, values: dict[str, float]) -> None:
        last_step, last_time = self._last
        self._last, paused, self._paused = (step, time.perf_counter()), self._paused, 0.0
        rate = (step - last_step) / max(self._last[1] - last_time - paused, 1e-9)
        values = {**values, "perf/steps_per_s": rate}
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        left = f", {duration((self.total - step) / rate)} left" if step < self.total else ""
        progress.info(
            "step %d/%d (%.3g steps/s%s) | %s", step, self.total, rate, left, _short(values)
        )
        self._start_rate = self._start_rate or rate
        if rate < self._start_rate / SLOWER and not self._slow_said:
            self._slow_said = True
            log.warning(
                f"{rate:.3g} steps/s, {SLOWER}x below this run's {self._start_rate:.3g} at its start: "
                "is another process using the cores? (trainer.threads sets this run's)"
            )
        if self.bar is not None:
            self.bar.set_postfix_str(
                f"loss D {values['loss/D']:.4g} G {values['loss/G']:.4g}", refresh=False
            )
            self.bar.update(step - self.bar.n)

    def first_step(self, step: int, seconds: float) -> None:
        """A line within seconds of the start, whatever the log interval: the first step's time (the
        slowest: start-up) bounds the rest's."""
        left = self.total - step
        self.message(
            f"step {step} in {seconds:.2g} s (the first, the slowest); the {count(left, 'step')} "
            f"left: at most {duration(left * seconds)}, estimated again at each log line"
            if left
            else f"step {step} in {seconds:.2g} s"
        )

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside is left out of steps/s."""
        start = time.perf_counter()
        yield
        self._paused += time.perf_counter() - start

    def metrics(self, step: int, metrics: dict[str, float]) -> None:
        if not metrics:
            return
        for name, value in metrics.items():
            self.writer.add_scalar(f"metrics/{name}", value, step)
        said = "  ".join(shown(k, v, self.info) for k, v in metrics.items())
        self.message(f"step {step} | {said}")

    def samples(self, step: int, picture: np.ndarray, tag: str = "samples") -> Path:
        """A picture (HxWx3 uint8) to TensorBoard as `tag` and to samples/[tag_]step_<step>.png."""
        self.writer.add_image(tag, picture, step, dataformats="HWC")
        path = self.run.samples / f"{'' if tag == 'samples' else tag + '_'}step_{step:07d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(picture).save(path)
        return path

    def config(self, cfg: DictConfig, step: int) -> None:
        """The composed config and what each scalar counts in, as TensorBoard text (its TEXT tab), at
        the step this attempt starts from."""
        yaml = OmegaConf.to_yaml(cfg, resolve=True)
        self.writer.add_text("config", "\n".join("    " + line for line in yaml.splitlines()), step)
        units = [f"| {tag} | {unit} |" for tag, unit in UNITS.items()]
        self.writer.add_text("units", "\n".join(["| scalar | unit |", "|---|---|", *units]), step)

    def hparams(self, cfg: DictConfig, status: str, metrics: dict[str, float]) -> None:
        """Write the config groups as chosen (loss=lsgan, optimizer=lookahead_minmax, lens=tempered, from
        the run's .hydra record), every other value flattened, the run's status and its final metrics
        into this run, for TensorBoard's HParams tab. The metric values are the `metrics/<name>`
        scalars logged above."""
        choices = (
            OmegaConf.load(self.run.hydra_yaml).hydra.runtime.choices
            if self.run.hydra_yaml.exists()
            else {}
        )
        chosen = {g: str(c) for g, c in choices.items() if not g.startswith(("hydra/", "schema/"))}
        # a preset's claim says how a sweep is judged, not how this run trained; `_target_` paths say
        # in code what the group choices say
        flat = {
            k: v
            for k, v in flatten(cfg).items()
            if not k.startswith("claim.") and not k.endswith("_target_")
        }
        exp, ssi, sei = hparams(
            {**chosen, **flat, "status": status}, {f"metrics/{k}": v for k, v in metrics.items()}
        )
        for summary in (exp, ssi, sei):
            self.writer.file_writer.add_summary(summary)

    def message(self, text: str) -> None:
        log.info(text)

    def __enter__(self) -> "RunLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.close()
        if self.bar is not None:
            self._redirect.__exit__(None, None, None)
            self.bar.close()


def captioned(pictures: dict[str, np.ndarray]) -> np.ndarray:
    """Pictures (HxWx3 uint8) side by side, each under its caption, e.g. the lens's real | lensed."""
    height, line = max(p.shape[0] for p in pictures.values()), 14
    width = sum(p.shape[1] for p in pictures.values()) + 4 * (len(pictures) - 1)
    out = Image.new("RGB", (width, height + line), "white")
    draw, x = ImageDraw.Draw(out), 0
    for caption, picture in pictures.items():
        draw.text((x + 2, 1), caption, fill="black")
        out.paste(Image.fromarray(picture), (x, line))
        x += picture.shape[1] + 4
    return np.asarray(out)


def _short(values: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in values.items())
