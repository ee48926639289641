"""The fast-weights layer and language model: forms agree, memory is per example, causal."""

from __future__ import annotations

import pytest
import torch

from fast_weights.models import CharLM
from fast_weights.models.fast_weights_rnn import FastWeightsLayer

ATOL = 1e-10  # float64 agreement between two forms of the same computation

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def make_layer(inner_steps: int = 2, memory: str = "matrix", seed: int = 0) -> FastWeightsLayer:
    torch.manual_seed(seed)
    layer = FastWeightsLayer(
        d_model=8, decay=0.9, fast_lr=0.4, inner_steps=inner_steps, memory=memory
    )
    with torch.no_grad():  # a non-trivial W, so that the test does not hinge on 0.05·I
        layer.recurrent.weight.add_(0.1 * torch.randn(8, 8))
    return layer.double()


def reference_step(layer: FastWeightsLayer, x, h, fast):
    """One step written straight from the equations, for a single example: x (8,), h (8,)."""
    slow = layer.recurrent.weight @ h + layer.input_proj.weight @ x + layer.input_proj.bias
    hs = torch.relu(slow)
    for _ in range(layer.inner_steps):
        pre = slow + fast @ hs
        normed = (pre - pre.mean()) / torch.sqrt(pre.var(unbiased=False) + layer.norm.eps)
        hs = torch.relu(normed * layer.norm.weight + layer.norm.bias)
    fast = layer.decay * fast + layer.fast_lr * torch.outer(hs, hs)
    return hs, fast


@pytest.mark.parametrize("steps", [1, 7, 20])
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_matrix_form_matches_the_equations(steps: int, inner_steps: int) -> None:
    layer = make_layer(inner_steps)
    inputs = torch.randn(3, steps, 8, dtype=torch.double)
    outputs, (h_last, fast_last) = layer(inputs)
    for b in range(3):
        h, fast = torch.zeros(8, dtype=torch.double), torch.zeros(8, 8, dtype=torch.double)
        for t in range(steps):
            h, fast = reference_step(layer, inputs[b, t], h, fast)
            torch.testing.assert_close(outputs[b, t], h, atol=ATOL, rtol=0)
        torch.testing.assert_close(fast_last[b], fast, atol=ATOL, rtol=0)
        torch.testing.assert_close(h_last[b], h, atol=ATOL, rtol=0)


@pytest.mark.parametrize("steps", [1, 7, 33])
@pytest.mark.parametrize("with_start_state", [False, True], ids=["zero-state", "carried-state"])
def test_attention_form_equals_matrix_form(steps: int, with_start_state: bool) -> None:
    layer = make_layer()
    inputs = torch.randn(2, steps, 8, dtype=torch.double, requires_grad=True)
    state = None
    if with_start_state:
        _, state = layer(torch.randn(2, 4, 8, dtype=torch.double))
        state = tuple(part.detach().requires_grad_() for part in state)
    leaves = [inputs, *(state or ())]

    results = {}
    for memory in ("matrix", "attention"):
        layer.memory = memory
        layer.zero_grad()
        for leaf in leaves:
            leaf.grad = None
        outputs, (h, fast) = layer(inputs, state)
        (outputs.sin().sum() + fast.cos().sum() + h.sum()).backward()
        grads = [leaf.grad.clone() for leaf in leaves]
        grads += [p.grad.clone() for p in layer.parameters()]
        results[memory] = (outputs, h, fast, grads)

    matrix, attention = results["matrix"], results["attention"]
    for a, b in zip(matrix[:3], attention[:3], strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    for a, b in zip(matrix[3], attention[3], strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=0)


@pytest.mark.parametrize("memory", ["matrix", "attention"])
def test_segments_carry_state(memory: str) -> None:
    layer = make_layer(memory=memory)
    inputs = torch.randn(2, 11, 8, dtype=torch.double)
    whole, (h, fast) = layer(inputs)
    first, state = layer(inputs[:, :4])
    second, (h2, fast2) = layer(inputs[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=ATOL, rtol=0)
    torch.testing.assert_close(fast2, fast, atol=ATOL, rtol=0)
    torch.testing.assert_close(h2, h, atol=ATOL, rtol=0)


@pytest.mark.parametrize("memory", ["matrix", "attention"])
def test_each_example_has_its_own_memory(memory: str) -> None:
    """Changing other examples of the batch never changes an example's outputs; with layer
    norm over the batch, or a memory summed over it, it would."""
    layer = make_layer(memory=memory)
    inputs = torch.randn(4, 9, 8, dtype=torch.double)
    outputs, (_, fast) = layer(inputs)
    changed = inputs.clone()
    changed[1:] = 10 * torch.randn(3, 9, 8, dtype=torch.double)
    outputs_changed, (_, fast_changed) = layer(changed)
    torch.testing.assert_close(outputs_changed[0], outputs[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(fast_changed[0], fast[0], atol=ATOL, rtol=0)
    assert not torch.allclose(fast_changed[1], fast[1])
    alone, _ = layer(inputs[:1])
    torch.testing.assert_close(alone[0], outputs[0], atol=ATOL, rtol=0)


def test_layer_norm_is_over_hidden_features() -> None:
    layer = make_layer()
    assert layer.norm.normalized_shape == (8,)
    assert layer.norm.weight.requires_grad and layer.norm.bias.requires_grad


def test_slow_weights_start_near_a_scaled_identity() -> None:
    layer = FastWeightsLayer(d_model=6)
    torch.testing.assert_close(layer.recurrent.weight.detach(), 0.05 * torch.eye(6))


def test_unknown_memory_form_is_refused() -> None:
    with pytest.raises(ValueError, match=r"memory='dense'.*'matrix', 'attention'"):
        FastWeightsLayer(d_model=6, memory="dense")


def make_model(memory: str = "matrix") -> CharLM:
    torch.manual_seed(1)
    mixer = {"name": "fast_weights_rnn", "memory": memory}
    model = CharLM(vocab_size=11, seq_length=12, mixer=mixer, d_model=10, num_layers=2)
    return model.double().eval()


@pytest.mark.parametrize("memory", ["matrix", "attention"])
def test_language_model_is_causal(memory: str) -> None:
    model = make_model(memory)
    tokens = torch.randint(0, 11, (2, 15))
    logits, _ = model(tokens)
    for position in (0, 6, 14):
        changed = tokens.clone()
        changed[:, position:] = (changed[:, position:] + 1) % 11
        logits_changed, _ = model(changed)
        torch.testing.assert_close(
            logits_changed[:, :position], logits[:, :position], atol=ATOL, rtol=0
        )
        assert not torch.allclose(logits_changed[:, position], logits[:, position])


@pytest.mark.parametrize("memory", ["matrix", "attention"])
def test_step_by_step_generation_state_reproduces_the_full_forward(memory: str) -> None:
    model = make_model(memory)
    tokens = torch.randint(0, 11, (3, 13))
    full, final_state = model(tokens)
    state = None
    for t in range(tokens.shape[1]):
        step_logits, state = model(tokens[:, t : t + 1], state)
        torch.testing.assert_close(step_logits[:, 0], full[:, t], atol=ATOL, rtol=0)
    for (h_step, fast_step), (h_full, fast_full) in zip(state, final_state, strict=True):
        torch.testing.assert_close(h_step, h_full, atol=ATOL, rtol=0)
        torch.testing.assert_close(fast_step, fast_full, atol=ATOL, rtol=0)
