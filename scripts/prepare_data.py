"""Fetch or find the corpus and describe it: ``python scripts/prepare_data.py``."""

import sys

import hydra
from omegaconf import DictConfig

from fast_weights.cli import entry_point, preflight


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare")
@entry_point
def main(cfg: DictConfig) -> None:
    # Imported here, so that a bad command line is refused before torch is loaded.
    from fast_weights.prepare import prepare

    summary = prepare(cfg)
    print(f"corpus      {summary['path']}: {summary['characters']:,} characters")
    print(f"vocabulary  {summary['vocabulary_size']} characters")
    print(
        f"splits      train {summary['train_chars']:,}, val {summary['val_chars']:,}, "
        f"test {summary['test_chars']:,}"
    )


if __name__ == "__main__":
    preflight("prepare", sys.argv)
    main()
