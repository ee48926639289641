"""Every model of ``conf/model/`` through the shared language model: causal, independent per
example, resumable from a carried state, and generating exactly what the parallel forward
computes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from fast_weights.errors import ConfigError
from fast_weights.models import CharLM
from fast_weights.models.language_model import build_mixer

MODEL_DIR = Path(__file__).resolve().parents[1] / "conf" / "model"
MODEL_NAMES = sorted(path.stem for path in MODEL_DIR.glob("*.yaml"))
ATOL = 1e-9  # float64: two orders of the same computation
VOCAB = 13


def small_model(name: str, seq_length: int = 12) -> CharLM:
    """The model of ``conf/model/<name>.yaml`` at a test size, in float64."""
    cfg = OmegaConf.to_container(OmegaConf.load(MODEL_DIR / f"{name}.yaml"))
    mixer = cfg["mixer"]
    if "heads" in mixer:
        mixer["heads"] = 2
    if "chunk_size" in mixer:
        mixer["chunk_size"] = 5  # does not divide the test lengths: exercises padding
    torch.manual_seed(0)
    model = CharLM(
        vocab_size=VOCAB,
        seq_length=seq_length,
        mixer=mixer,
        d_model=16,
        num_layers=2,
        mlp_ratio=cfg.get("mlp_ratio", 0),
    )
    return model.double().eval()


def test_every_mixer_has_a_model_config() -> None:
    assert {"fast_weights_rnn", "lstm", "transformer"} <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_changing_a_later_character_never_changes_an_earlier_output(name: str) -> None:
    model = small_model(name)
    tokens = torch.randint(0, VOCAB, (2, 11))
    logits, _ = model(tokens)
    for position in (0, 5, 10):
        changed = tokens.clone()
        changed[:, position:] = (changed[:, position:] + 1) % VOCAB
        changed_logits, _ = model(changed)
        torch.testing.assert_close(
            changed_logits[:, :position], logits[:, :position], atol=ATOL, rtol=0
        )
        assert not torch.allclose(changed_logits[:, position], logits[:, position])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_examples_of_a_batch_are_independent(name: str) -> None:
    model = small_model(name)
    tokens = torch.randint(0, VOCAB, (3, 9))
    logits, _ = model(tokens)
    changed = tokens.clone()
    changed[1:] = torch.randint(0, VOCAB, (2, 9))
    changed_logits, _ = model(changed)
    torch.testing.assert_close(changed_logits[0], logits[0], atol=ATOL, rtol=0)
    alone, _ = model(tokens[:1])
    torch.testing.assert_close(alone[0], logits[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("split", [1, 4, 7])
def test_a_carried_state_continues_the_sequence(name: str, split: int) -> None:
    model = small_model(name)
    tokens = torch.randint(0, VOCAB, (2, 12))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :split])
    second, _ = model(tokens[:, split:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_generating_one_character_at_a_time_reproduces_the_forward(name: str) -> None:
    model = small_model(name)
    tokens = torch.randint(0, VOCAB, (2, 12))
    whole, _ = model(tokens)
    state = None
    for t in range(tokens.shape[1]):
        step_logits, state = model(tokens[:, t : t + 1], state)
        torch.testing.assert_close(step_logits[:, 0], whole[:, t], atol=ATOL, rtol=0)


def test_learned_positions_refuse_to_run_past_their_table() -> None:
    mixer = {"name": "attention", "heads": 2, "positions": "learned"}
    model = CharLM(vocab_size=VOCAB, seq_length=8, mixer=mixer, d_model=16).eval()
    _, state = model(torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="past the 8 learned positions"):
        model(torch.zeros(1, 1, dtype=torch.long), state)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "gru"}, r"model.mixer.name='gru' is not one of"),
        ({"name": "lstm", "hidden": 3}, r"lstm does not take: \['hidden'\]"),
        ({"name": "fast_weights_rnn", "fastlr": 0.1}, r"\['fastlr'\]; it accepts"),
    ],
    ids=["unknown-mixer", "lstm-typo", "rnn-typo"],
)
def test_unknown_mixers_and_misspelt_options_are_refused(options, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_mixer(options, d_model=8, seq_length=8)
