"""Sample text: ``python scripts/generate.py ckpt_path=<file> prompt="..." length=500``."""

import sys

import hydra
from omegaconf import DictConfig

from fast_weights.cli import entry_point, preflight, quote_text_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="generate")
@entry_point
def main(cfg: DictConfig) -> None:
    # Imported here, so that a bad command line is refused before torch is loaded.
    from fast_weights.sample import sample

    sample(cfg, sys.stdout)


if __name__ == "__main__":
    sys.argv = quote_text_overrides(sys.argv, ("prompt",))
    preflight("generate", sys.argv)
    main()
