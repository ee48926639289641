"""Score a checkpoint: ``python scripts/evaluate.py ckpt_path=<file> [data.path=<text>]``."""

import sys

import hydra
from omegaconf import DictConfig

from fast_weights.cli import entry_point, preflight
from fast_weights.evaluate import evaluate, format_results


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
@entry_point
def main(cfg: DictConfig) -> None:
    print(format_results(evaluate(cfg)))


if __name__ == "__main__":
    preflight("evaluate", sys.argv)
    main()
