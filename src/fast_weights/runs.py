"""Run folders on disk, without importing anything heavy (the scripts use it at start-up)."""

from __future__ import annotations

import os
from pathlib import Path


def find_last_checkpoint(runs_dir: str | os.PathLike) -> Path | None:
    """``checkpoints/last.ckpt`` of the newest run folder under ``runs_dir`` that has one."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return None
    candidates = sorted(
        runs_dir.glob("*/checkpoints/last.ckpt"), key=lambda p: p.parent.parent.name
    )
    return candidates[-1] if candidates else None
