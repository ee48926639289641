"""The loss-curve figure of a run, drawn from its TensorBoard event files."""

from __future__ import annotations

import io
import logging
import os

from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fast_weights.io import atomic_write_bytes

# The event reader logs each file it moves to; that is noise in a run's log.
logging.getLogger("tensorboard").setLevel(logging.WARNING)

CURVES = {"train/loss": "train", "val/loss": "validation"}


def read_scalars(event_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in the event files of ``event_dir``, as ``(step, value)`` lists."""
    events = EventAccumulator(str(event_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(event.step, event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def plot_loss_curves(event_dir: str | os.PathLike, out_path: str | os.PathLike) -> bool:
    """Draws train and validation loss against the step; ``False`` if there was nothing."""
    scalars = read_scalars(event_dir)
    figure = Figure(figsize=(7, 4.5))  # no pyplot: no GUI backend, no global state
    axes = figure.subplots()
    drawn = False
    for tag, label in CURVES.items():
        points = scalars.get(tag, [])
        if points:
            steps, values = zip(*points, strict=True)
            axes.plot(steps, values, label=label, marker="o" if len(points) < 30 else None)
            drawn = True
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats per character)")
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        atomic_write_bytes(out_path, buffer.getvalue())
    return drawn
