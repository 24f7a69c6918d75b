"""A reproduction's figure.png: the paper's picture of the claim, from the jobs' records (their sample
pictures, or their metric histories)."""

import math
import textwrap
from pathlib import Path

from ..run_dir import COMPLETED, DIVERGED
from ..tables import ordered, value, wrap
from .claims import AREA
from .verdict import label


def figure(claim: dict, runs: list[dict], out: Path) -> Path | None:
    """figure.png: the paper's picture of it. `snapshots`: rows the row values (their lowest seeds),
    columns the sample pictures the runs saved at each step; `curves`: the first metric against
    gradient passes (extragradient takes two per iteration), one panel per column value, one line
    (mean, min-max band) per row value, log scale, the panels sharing their y-axis (`_share`); under
    each panel, where runs saved them, a lens's first picture of real images beside their lensed
    versions. Long labels are wrapped, and the picture saved with all its labels whole."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    rows, cols, metric = claim["rows"], claim.get("cols"), claim["metrics"][0].removesuffix(AREA)
    done = [r for r in runs if r["status"] in (COMPLETED, DIVERGED)]
    if not done:
        return None
    path = out / "figure.png"

    def seed(r: dict) -> int:
        v = value(r, "trainer.seed")
        return int(v) if v.isdigit() else 0

    if claim.get("figure", "snapshots") == "snapshots":
        chosen = []
        for rv in ordered(value(r, rows) for r in done):
            chosen += sorted((r for r in done if value(r, rows) == rv), key=seed)[:3]
        pictures = [sorted((Path(r["dir"]) / "samples").glob("step_*.png")) for r in chosen]
        n_cols = max(len(p) for p in pictures)
        if not n_cols:
            return None
        width, height = Image.open(next(p for pics in pictures for p in pics)).size
        fig = Figure(figsize=(2.2 * n_cols, (2.2 * height / width + 0.3) * len(chosen)), dpi=100)
        FigureCanvasAgg(fig)
        for i, (r, pics) in enumerate(zip(chosen, pictures)):
            for j, pic in enumerate(pics):
                ax = fig.add_subplot(len(chosen), n_cols, i * n_cols + j + 1)
                ax.imshow(Image.open(pic))
                ax.set_xticks([]), ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"step {int(pic.stem.split('_')[-1])}", fontsize=9)
                if j == 0:
                    name = "\n".join(textwrap.wrap(label(claim, value(r, rows)), 24)[:2])
                    ax.set_ylabel(f"{name}\nseed {seed(r)}", fontsize=7)
    else:
        col_values = ordered(value(r, cols) for r in done) if cols else [""]
        # a lens's first picture of real | lensed images under each panel (its lowest seed), when runs saved one
        lensed = [
            min(
                (
                    (seed(r), pics[0])
                    for r in done
                    if (not cols or value(r, cols) == cv)
                    and (pics := sorted((Path(r["dir"]) / "samples").glob("lens_step_*.png")))
                ),
                default=(None, None),
            )[1]
            for cv in col_values
        ]
        n_rows = 2 if any(lensed) else 1
        fig = Figure(figsize=(4 * len(col_values), 3.4 * n_rows), dpi=100)
        FigureCanvasAgg(fig)
        for j, pic in enumerate(lensed if n_rows == 2 else []):
            if pic is not None:
                ax = fig.add_subplot(2, len(col_values), len(col_values) + j + 1)
                ax.imshow(Image.open(pic))
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(f"real | lensed at step {int(pic.stem.split('_')[-1])}", fontsize=9)
        panels = [
            [
                line
                for rv in ordered(value(r, rows) for r in done)
                if (line := _line(claim, done, rows, cols, cv, rv, metric)) is not None
            ]
            for cv in col_values
        ]
        share = _share(panels)
        first = None
        for j, (cv, lines) in enumerate(zip(col_values, panels)):
            ax = fig.add_subplot(n_rows, len(col_values), j + 1, sharey=first if share else None)
            first = first or ax
            for name, x, mean, lo, hi in lines:
                ax.plot(x, mean, label=wrap(name, 40))
                ax.fill_between(x, lo, hi, alpha=0.2)
            ax.set(
                yscale="log",
                xlabel="passes (iterations; extragradient: 2 each)",
                ylabel=metric,
            )
            ax.set_title(wrap(label(claim, cv) if cols else metric, 40))
            ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")  # long row labels and titles whole
    return path


def _line(
    claim: dict, done: list[dict], rows: str, cols: str | None, cv: str, rv: str, metric: str
):
    """(label, passes, mean, min, max) of the row value's runs in the panel of `cv`, or None when
    they have no evaluation."""
    import numpy as np

    curves = [
        r["history"] for r in done if value(r, rows) == rv and (not cols or value(r, cols) == cv)
    ]
    per_step = (
        2
        if any(value(r, "optimizer.extragradient") == "True" for r in done if value(r, rows) == rv)
        else 1
    )
    steps = sorted({e["step"] for h in curves for e in h})
    if not steps:
        return None
    values = np.array(
        [
            [next((e.get(metric, math.nan) for e in h if e["step"] == s), math.nan) for s in steps]
            for h in curves
        ],
        dtype=float,
    )
    x = np.array(steps) * per_step
    return label(claim, rv), x, np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)


def _share(panels: list[list]) -> bool:
    """Whether the panels share their (log) y-axis: they compare one metric, unless one panel's range
    would squash the others' (a diverging run's 1e20 beside distances of 1 to 40): the decades all
    panels span together at most three, or three times the narrowest panel's span."""
    import numpy as np

    spans = []
    for lines in panels:
        v = np.concatenate([np.concatenate(line[2:]) for line in lines]) if lines else np.array([])
        v = v[np.isfinite(v) & (v > 0)]
        if len(v):
            spans.append((np.log10(v.min()), np.log10(v.max())))
    if len(spans) < 2:
        return True
    union = max(hi for _, hi in spans) - min(lo for lo, _ in spans)
    return union <= max(3.0, 3 * min(hi - lo for lo, hi in spans))
