"""Train a model: ``python scripts/train.py [overrides]``."""

import sys

import hydra
from omegaconf import DictConfig

from fast_weights.cli import entry_point, preflight, quote_text_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@entry_point
def main(cfg: DictConfig) -> float | None:
    # Imported here, so that a bad command line is refused before torch is loaded.
    from fast_weights.train import train

    # Returned to Hydra, so that a sweeper can minimise it.
    return train(cfg)["val/loss"]


if __name__ == "__main__":
    sys.argv = quote_text_overrides(sys.argv, ("sampling.prompt",))
    preflight("train", sys.argv)
    main()
