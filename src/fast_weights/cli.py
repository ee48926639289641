"""What every entry point shares: one-line errors and the run folder banner."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fast_weights.errors import UserInputError

log = logging.getLogger(__name__)

Result = TypeVar("Result")


def quote_text_overrides(argv: list[str], keys: tuple[str, ...]) -> list[str]:
    """Quotes the values of free-text keys so that Hydra takes them literally.

    ``prompt=To be, or not to be`` (what the shell passes on for ``prompt="To be, or not to
    be"``) would otherwise be read as a list because of its commas. Values that the user
    already quoted for Hydra are left alone.
    """
    quoted = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") in keys and value[:1] not in ("'", '"'):
            # Inside quotes, Hydra reads a backslash as an escape only before a quote or at
            # the end; double those backslashes and escape the quotes.
            escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
            escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
            arg = f"{key}='{escaped}'"
        quoted.append(arg)
    return quoted


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
