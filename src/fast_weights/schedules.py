"""Learning-rate schedules, built from ``torch.optim.lr_scheduler`` pieces."""

from __future__ import annotations

import math
import warnings

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    optimizer: Optimizer,
    total_steps: float,
    warmup_steps: int = 100,
    min_lr_ratio: float = 0.1,
) -> LambdaLR:
    """Linear warm-up from 0 over ``warmup_steps``, then a cosine decay to ``min_lr_ratio``.

    The factor multiplies the optimiser's learning rate. With no finite ``total_steps`` (a run
    bounded only by ``trainer.max_time``) the rate stays flat after the warm-up.
    """
    if not math.isfinite(total_steps):
        warnings.warn(
            "the run has no step budget (trainer.max_epochs and trainer.max_steps are -1), "
            "so the cosine schedule is off: the learning rate stays flat after the warm-up",
            stacklevel=2,
        )
    decay_steps = max(1.0, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if not math.isfinite(total_steps):
            return 1.0
        progress = min(1.0, (step - warmup_steps) / decay_steps)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
