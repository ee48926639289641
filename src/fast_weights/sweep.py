"""A Hydra callback that tabulates the jobs of a sweep once they have all run."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fast_weights.io import atomic_write_text

log = logging.getLogger(__name__)

COLUMNS = {  # metrics.json key: (heading, format)
    "params": ("params", "{:,}"),
    "steps": ("steps", "{:,}"),
    "train_chars_per_s": ("train chars/s", "{:,}"),
    "val/loss": ("val loss", "{:.4f}"),
    "val/bpc": ("val bpc", "{:.4f}"),
    "val/acc": ("val acc", "{:.4f}"),
    "test/loss": ("test loss", "{:.4f}"),
    "wall_time_s": ("wall s", "{:.1f}"),
}


def _cell(key: str, value: Any) -> str:
    return "–" if value is None else COLUMNS[key][1].format(value)


def summarize(sweep_dir: Path) -> str:
    """A Markdown table of every job folder under ``sweep_dir``: its overrides and the
    figures of its ``metrics.json``, or why it failed (its ``failure.json``)."""
    jobs = sorted(
        (path for path in sweep_dir.iterdir() if path.is_dir() and path.name.isdigit()),
        key=lambda path: int(path.name),
    )
    header = ["job", "overrides", *(heading for heading, _ in COLUMNS.values())]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for job in jobs:
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
        metrics_file, failure_file = job / "metrics.json", job / "failure.json"
        if metrics_file.exists():
            metrics = json.loads(metrics_file.read_text())
            cells = [_cell(key, metrics.get(key)) for key in COLUMNS]
        else:
            failure = json.loads(failure_file.read_text()) if failure_file.exists() else {}
            # One line, without the pipes that would split the cell.
            reason = " ".join(failure.get("error", "no metrics.json").split()).replace("|", "/")
            cells = [f"failed: {reason}"] + ["–"] * (len(COLUMNS) - 1)
        lines.append("| " + " | ".join([job.name, " ".join(overrides or []), *cells]) + " |")
    return "\n".join(lines) + "\n"


class SweepSummary(Callback):
    """Writes ``summary.md`` into the sweep folder at the end of a multirun and logs it.

    A failed job does not stop the others (see :func:`fast_weights.cli.entry_point`); if any
    failed, the sweep ends with exit status 1 once the summary is written.
    """

    def __init__(self, filename: str = "summary.md") -> None:
        self.filename = filename

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        table = summarize(sweep_dir)
        atomic_write_text(sweep_dir / self.filename, table)
        log.info("Sweep summary (%s):\n%s", sweep_dir / self.filename, table)
        failed = sorted(path.parent.name for path in sweep_dir.glob("*/failure.json"))
        if failed:
            log.error("error: %d job(s) failed: %s", len(failed), ", ".join(failed))
            sys.exit(1)
