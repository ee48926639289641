"""What every entry point shares: one-line errors and the run folder banner."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fast_weights.errors import UserInputError

log = logging.getLogger(__name__)

Result = TypeVar("Result")


def run_folder() -> str | None:
    """The Hydra output folder of the running job, or ``None`` outside Hydra."""
    return HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None


def entry_point(task: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Wraps a task so that bad user input ends it with one line and exit status 2.

    The run folder is logged when the task starts and when it ends, failed or not.
    """

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        folder = run_folder()
        log.info("Run folder: %s", folder)
        try:
            return task(cfg)
        except UserInputError as err:
            log.error("error: %s", err)
            sys.exit(2)
        finally:
            log.info("Run folder: %s", folder)

    return wrapper
