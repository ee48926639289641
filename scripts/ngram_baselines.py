"""Held-out loss of count-based models: ``python scripts/ngram_baselines.py [data.path=...]``."""

import sys

import hydra
from omegaconf import DictConfig

from fast_weights.cli import entry_point, preflight
from fast_weights.config_checks import check_config
from fast_weights.data import CharDataModule
from fast_weights.ngram import ngram_loss, uniform_loss


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare")
@entry_point
def main(cfg: DictConfig) -> None:
    check_config(cfg, "prepare")
    datamodule = CharDataModule(
        **{k: v for k, v in cfg.data.items() if k != "_target_"}, seq_length=1
    )
    datamodule.prepare_data()
    datamodule.setup()
    vocab_size = len(datamodule.vocabulary)
    train = datamodule.splits["train"]
    print(f"{'model':<24} {'val loss':>9} {'test loss':>9}   (nats per character)")
    print(f"{'uniform':<24} {uniform_loss(vocab_size):>9.3f} {uniform_loss(vocab_size):>9.3f}")
    for order, name in ((1, "unigram"), (2, "bigram")):
        for alpha in (0.1, 1.0):
            losses = [
                ngram_loss(train, datamodule.splits[split], vocab_size, order, alpha)
                for split in ("val", "test")
            ]
            label = f"{name}, add-{alpha:g}"
            print(f"{label:<24} {losses[0]:>9.3f} {losses[1]:>9.3f}")


if __name__ == "__main__":
    preflight("prepare", sys.argv)
    main()
