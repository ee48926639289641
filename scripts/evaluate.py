"""Score a checkpoint: ``python scripts/evaluate.py ckpt_path=<file> [data.path=<text>]``."""

import sys

import hydra
from omegaconf import DictConfig

from fast_weights.cli import entry_point, preflight


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
@entry_point
def main(cfg: DictConfig) -> None:
    # Imported here, so that a bad command line is refused before torch is loaded.
    from fast_weights.evaluate import evaluate, format_results

    print(format_results(evaluate(cfg)))


if __name__ == "__main__":
    preflight("evaluate", sys.argv)
    main()
