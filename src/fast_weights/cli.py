"""What every entry point shares: one-line errors and the run folder banner."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fast_weights.config_checks import check_config
from fast_weights.errors import ConfigError, TrainingStopped, UserInputError
from fast_weights.io import atomic_write_json
from fast_weights.runs import find_last_checkpoint

log = logging.getLogger(__name__)

Result = TypeVar("Result")

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
"""The Hydra configs of a source checkout (``pip install -e .``), which the scripts use."""


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


def preflight(config_name: str, argv: list[str]) -> None:
    """Composes and checks the config as Hydra will, before Hydra makes a run folder.

    A misspelt key, an unknown group option or a value out of range then ends the command
    with one ``error:`` line on stderr and exit status 2, leaving no folder behind. Sweeps
    (``-m``) and Hydra's own flags are left to Hydra.
    """
    arguments = argv[1:]
    if any(arg.startswith("-") for arg in arguments):
        return
    overrides = [arg for arg in arguments if not arg.lstrip("+~").startswith("hydra")]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides)
        check_config(cfg, config_name)
        _check_writable(cfg.paths.log_dir)
        if config_name == "train":  # the mixer checks its own options (this imports torch)
            from fast_weights.models.language_model import build_mixer

            build_mixer(OmegaConf.to_container(cfg.model.mixer), cfg.model.d_model, 1)
    except (HydraException, OmegaConfBaseException, UserInputError) as err:
        message = " ".join(str(err).split())  # Hydra's messages span several lines
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)


def _check_writable(folder: str) -> None:
    """Makes the outputs folder if needed; refuses one that cannot be made or written."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"paths.log_dir={folder} cannot be made ({err.strerror}); give a writable folder"
        ) from None
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"paths.log_dir={folder} is not writable; give a writable folder")


def run_folder() -> str | None:
    """The Hydra output folder of the running job, or ``None`` outside Hydra."""
    return HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None


def entry_point(task: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Wraps a task so that its failures end it cleanly.

    Bad user input ends a single run with one ``error:`` line and exit status 2; a training
    run stopped by a signal or a diverging loss ends with its own status (130 for SIGINT,
    143 for SIGTERM, 3 for a non-finite loss). In a multirun, a failing job instead records
    its failure in ``failure.json`` in its folder and the sweep goes on. The run folder is
    logged when the task starts and when it ends.
    """

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        folder = run_folder()
        log.info("Run folder: %s", folder)
        sweeping = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
        try:
            return task(cfg)
        except (UserInputError, TrainingStopped) as err:
            log.error("error: %s", err)
            if sweeping:
                _record_failure(folder, err)
                return None
            sys.exit(err.exit_code if isinstance(err, TrainingStopped) else 2)
        except Exception as err:
            if not sweeping:
                raise
            log.exception("job failed")
            _record_failure(folder, err)
            return None
        finally:
            log.info("Run folder: %s", folder)

    return wrapper


def _record_failure(folder: str | None, err: BaseException) -> None:
    if folder:
        atomic_write_json(
            Path(folder) / "failure.json", {"error": str(err), "type": type(err).__name__}
        )


def _run_dir(ckpt_path: str | None, runs_dir: str) -> str:
    """Resolver for ``hydra.run.dir`` of training: a resumed run goes on in the folder of the
    run it resumes; any other run gets a new folder named by the time, to the microsecond."""
    if ckpt_path == "last":
        last = find_last_checkpoint(runs_dir)
        if last is not None:
            return str(last.parent.parent)
    elif ckpt_path:
        checkpoint = Path(ckpt_path)
        if checkpoint.parent.name == "checkpoints" and (checkpoint.parents[1] / ".hydra").is_dir():
            return str(checkpoint.parents[1])
    return str(Path(runs_dir) / datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f"))


OmegaConf.register_new_resolver("run_dir", _run_dir, use_cache=True, replace=True)
