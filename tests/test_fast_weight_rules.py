"""The linear and (gated) delta rules: every fast form against the step-by-step reference, and
the LinearFWP and DeltaNet mixers: segments, causality, batch independence, stepping, options.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.nn import functional as F

from fast_weights.models.mixers.delta_net import DeltaNet, fla_available
from fast_weights.models.mixers.linear_fwp import LinearFWP
from fast_weights.ops import (
    delta_chunkwise,
    delta_parallel,
    delta_recurrent,
    linear_chunkwise,
    linear_parallel,
    linear_recurrent,
)

ATOL_OUT = 1e-10  # float64 agreement of outputs and states between two forms of one rule
ATOL_GRAD = 1e-9  # float64 agreement of gradients between two forms of one rule
ATOL_FLA = 5e-2  # fla kernels in bfloat16 against the torch reference in float32, after RMSNorm

BATCH, HEADS, D_K, D_V = 2, 2, 4, 3
D_MODEL = 8
RULES = ("linear", "delta", "gated-delta")

# (form, time, chunk_size): for the chunkwise form, chunk sizes that do not divide the length
# and one long chunk; the parallel form has no chunks.
FAST_FORMS = (
    [
        pytest.param("chunkwise", time, chunk, id=f"chunkwise-T{time}-C{chunk}")
        for time in (1, 7, 63, 100)
        for chunk in (5, 16)
    ]
    + [pytest.param("chunkwise", 100, 64, id="chunkwise-T100-C64")]
    + [pytest.param("parallel", time, 0, id=f"parallel-T{time}") for time in (1, 7, 63, 100)]
)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """These tensors are tiny: one intra-op thread beats waking a pool, most of all when the
    other cores are busy (two threads made each small op wait milliseconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_inputs(rule: str, time: int, seed: int = 0) -> dict[str, Tensor]:
    """Leaf tensors in float64 for one rule: unit keys, ``β ∈ (0, 2)``, ``α ∈ (0.5, 1)``."""
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    inputs = {
        "q": normal(BATCH, time, HEADS, D_K),
        "k": F.normalize(normal(BATCH, time, HEADS, D_K), dim=-1),
        "v": normal(BATCH, time, HEADS, D_V),
        "state": normal(BATCH, HEADS, D_K, D_V),
    }
    if rule != "linear":
        uniform = torch.rand(BATCH, time, HEADS, generator=generator, dtype=torch.float64)
        inputs["beta"] = 2.0 * uniform
    if rule == "gated-delta":
        uniform = torch.rand(BATCH, time, HEADS, generator=generator, dtype=torch.float64)
        inputs["log_alpha"] = torch.log(0.5 + 0.5 * uniform)
    return {name: tensor.requires_grad_() for name, tensor in inputs.items()}


def run_rule(rule: str, form: str, inputs: dict[str, Tensor], chunk_size: int = 16):
    """One form of one rule on ``inputs``: ``(outputs, final state)``."""
    if rule == "linear":
        args = (inputs["q"], inputs["k"], inputs["v"], inputs.get("state"))
        if form == "chunkwise":
            return linear_chunkwise(*args, chunk_size=chunk_size)
        return linear_recurrent(*args) if form == "recurrent" else linear_parallel(*args)
    args = (
        inputs["q"],
        inputs["k"],
        inputs["v"],
        inputs["beta"],
        inputs.get("log_alpha"),
        inputs.get("state"),
    )
    if form == "chunkwise":
        return delta_chunkwise(*args, chunk_size=chunk_size)
    return delta_recurrent(*args) if form == "recurrent" else delta_parallel(*args)


def outputs_and_gradients(
    rule: str, form: str, inputs: dict[str, Tensor], chunk_size: int
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Outputs, final state, and the gradients of a fixed random projection of both."""
    outputs, state = run_rule(rule, form, inputs, chunk_size)
    generator = torch.Generator().manual_seed(1)
    out_weights = torch.randn(outputs.shape, generator=generator, dtype=torch.float64)
    state_weights = torch.randn(state.shape, generator=generator, dtype=torch.float64)
    loss = (outputs * out_weights).sum() + (state * state_weights).sum()
    gradients = torch.autograd.grad(loss, list(inputs.values()))
    return outputs.detach(), state.detach(), dict(zip(inputs, gradients, strict=True))


def assert_close(actual: Tensor, expected: Tensor, atol: float, what: str) -> None:
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0, msg=lambda m: f"{what}: {m}")


# --- the ops ------------------------------------------------------------------------------


@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize(("form", "time", "chunk_size"), FAST_FORMS)
@pytest.mark.parametrize("rule", RULES)
def test_fast_forms_match_the_recurrent_reference(
    rule: str, form: str, time: int, chunk_size: int, with_state: bool
) -> None:
    inputs = make_inputs(rule, time)
    if not with_state:
        del inputs["state"]

    out_ref, state_ref, grads_ref = outputs_and_gradients(rule, "recurrent", inputs, chunk_size)
    out, state, grads = outputs_and_gradients(rule, form, inputs, chunk_size)

    assert_close(out, out_ref, ATOL_OUT, "outputs")
    assert_close(state, state_ref, ATOL_OUT, "final state")
    for name, grad in grads.items():
        assert_close(grad, grads_ref[name], ATOL_GRAD, f"gradient of {name}")


@pytest.mark.parametrize("form", ["chunkwise", "parallel"])
def test_strong_decay_neither_overflows_nor_drifts(form: str) -> None:
    """``α ≈ e⁻³⁰`` per step: the decay ratios above the diagonal would overflow if unmasked."""
    inputs = make_inputs("gated-delta", 100)
    with torch.no_grad():
        inputs["log_alpha"].fill_(-30.0)

    out_ref, state_ref, grads_ref = outputs_and_gradients("gated-delta", "recurrent", inputs, 64)
    out, state, grads = outputs_and_gradients("gated-delta", form, inputs, 64)

    assert_close(out, out_ref, ATOL_OUT, "outputs")
    assert_close(state, state_ref, ATOL_OUT, "final state")
    for name, grad in grads.items():
        assert torch.isfinite(grad).all(), name
        assert_close(grad, grads_ref[name], ATOL_GRAD, f"gradient of {name}")


@pytest.mark.parametrize("form", ["recurrent", "chunkwise", "parallel"])
@pytest.mark.parametrize("rule", RULES)
def test_ops_carry_the_state_across_segments(rule: str, form: str) -> None:
    inputs = {name: t.detach() for name, t in make_inputs(rule, 41).items()}
    del inputs["state"]
    first = {n: t[:, :17] for n, t in inputs.items()}
    second = {n: t[:, 17:] for n, t in inputs.items()}

    whole, state_whole = run_rule(rule, form, inputs, chunk_size=8)
    head, state_head = run_rule(rule, form, first, chunk_size=8)
    tail, state_tail = run_rule(rule, form, {**second, "state": state_head}, chunk_size=8)

    assert_close(torch.cat([head, tail], dim=1), whole, ATOL_OUT, "outputs")
    assert_close(state_tail, state_whole, ATOL_OUT, "final state")


def test_ops_refuse_bad_chunk_sizes_and_shapes() -> None:
    inputs = {name: t.detach() for name, t in make_inputs("delta", 5).items()}
    q, k, v, beta = inputs["q"], inputs["k"], inputs["v"], inputs["beta"]
    with pytest.raises(ValueError, match="chunk_size=0"):
        linear_chunkwise(q, k, v, chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size=0"):
        delta_chunkwise(q, k, v, beta, chunk_size=0)
    with pytest.raises(ValueError, match="beta has shape"):
        delta_recurrent(q, k, v, beta[:, :, :1])
    with pytest.raises(ValueError, match="state has shape"):
        linear_parallel(q, k, v, state=torch.zeros(BATCH, HEADS, D_V, D_K))


# --- the mixers ---------------------------------------------------------------------------

MIXERS: dict[str, Callable[..., torch.nn.Module]] = {
    "fwp-elu-normalized": lambda **kw: LinearFWP(D_MODEL, heads=2, **kw),
    "fwp-elu-plain": lambda **kw: LinearFWP(D_MODEL, heads=2, normalize=False, **kw),
    "fwp-dpfp3-normalized": lambda **kw: LinearFWP(
        D_MODEL, heads=2, feature_map="dpfp", dpfp_nu=3, **kw
    ),
    "fwp-dpfp1-plain": lambda **kw: LinearFWP(
        D_MODEL, heads=2, feature_map="dpfp", normalize=False, **kw
    ),
    "deltanet": lambda **kw: DeltaNet(D_MODEL, heads=2, **kw),
    "deltanet-beta02": lambda **kw: DeltaNet(D_MODEL, heads=2, beta_range="02", **kw),
    "deltanet-no-conv": lambda **kw: DeltaNet(D_MODEL, heads=2, short_conv=False, **kw),
    "gated-deltanet": lambda **kw: DeltaNet(D_MODEL, heads=2, gated=True, **kw),
}


def make_mixer(name: str, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    return MIXERS[name](**options).double()


def mixer_input(time: int, seed: int = 2) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, time, D_MODEL, generator=generator, dtype=torch.float64)


def flatten_state(state) -> list[Tensor]:
    """The tensors of a mixer state, in order; ``None`` entries dropped."""
    parts = state if isinstance(state, tuple) else (state,)
    return [part for part in parts if part is not None]


def mixer_outputs_and_gradients(
    mixer: torch.nn.Module, x: Tensor
) -> tuple[Tensor, list[Tensor], dict[str, Tensor]]:
    """Outputs, state, and the gradients of a fixed random projection of both with respect to
    the input and every parameter of ``mixer``."""
    x = x.detach().requires_grad_()
    y, state = mixer(x)
    parts = flatten_state(state)
    generator = torch.Generator().manual_seed(3)
    loss = (y * torch.randn(y.shape, generator=generator, dtype=y.dtype)).sum()
    for part in parts:
        loss = loss + (part * torch.randn(part.shape, generator=generator, dtype=y.dtype)).sum()
    leaves = {"input": x, **dict(mixer.named_parameters())}
    gradients = torch.autograd.grad(loss, list(leaves.values()))
    return y.detach(), [p.detach() for p in parts], dict(zip(leaves, gradients, strict=True))


@pytest.mark.parametrize("form", ["recurrent", "parallel"])
@pytest.mark.parametrize("name", MIXERS)
def test_mixer_forms_agree(name: str, form: str) -> None:
    """Outputs, states and the gradients of the input and of every parameter."""
    chunkwise = make_mixer(name, chunk_size=5)
    other = make_mixer(name, form=form)
    x = mixer_input(23)

    y_chunk, state_chunk, grads_chunk = mixer_outputs_and_gradients(chunkwise, x)
    y_other, state_other, grads_other = mixer_outputs_and_gradients(other, x)

    assert_close(y_other, y_chunk, ATOL_OUT, "outputs")
    for part_other, part_chunk in zip(state_other, state_chunk, strict=True):
        assert_close(part_other, part_chunk, ATOL_OUT, "state")
    assert grads_other.keys() == grads_chunk.keys()
    for leaf, grad in grads_other.items():
        assert_close(grad, grads_chunk[leaf], ATOL_GRAD, f"gradient of {leaf}")


@pytest.mark.parametrize("split", [1, 2, 9], ids=lambda s: f"split{s}")
@pytest.mark.parametrize("name", MIXERS)
def test_mixer_segments_equal_the_whole(name: str, split: int) -> None:
    """Splits shorter than the convolution exercise its carried history."""
    mixer = make_mixer(name, chunk_size=5)
    x = mixer_input(23)

    y_whole, state_whole = mixer(x)
    y_head, state_head = mixer(x[:, :split])
    y_tail, state_tail = mixer(x[:, split:], state_head)

    assert_close(torch.cat([y_head, y_tail], dim=1), y_whole, ATOL_OUT, "outputs")
    for part_tail, part_whole in zip(
        flatten_state(state_tail), flatten_state(state_whole), strict=True
    ):
        assert_close(part_tail, part_whole, ATOL_OUT, "state")


@pytest.mark.parametrize("position", [0, 6, 15])
@pytest.mark.parametrize("name", MIXERS)
def test_mixer_is_causal(name: str, position: int) -> None:
    mixer = make_mixer(name, chunk_size=5)
    x = mixer_input(16)
    changed = x.clone()
    changed[:, position] += 1.0

    y, _ = mixer(x)
    y_changed, _ = mixer(changed)

    assert_close(y_changed[:, :position], y[:, :position], ATOL_OUT, "outputs before the change")
    assert not torch.allclose(y_changed[:, position:], y[:, position:])


@pytest.mark.parametrize("name", MIXERS)
def test_mixer_keeps_examples_apart(name: str) -> None:
    mixer = make_mixer(name, chunk_size=5)
    x = mixer_input(16)
    changed = x.clone()
    changed[1] = torch.randn(16, D_MODEL, dtype=torch.float64)

    y, _ = mixer(x)
    y_changed, _ = mixer(changed)

    assert_close(y_changed[0], y[0], ATOL_OUT, "example 0")


@pytest.mark.parametrize("name", MIXERS)
def test_mixer_steps_reproduce_the_forward(name: str) -> None:
    mixer = make_mixer(name, form="parallel")
    x = mixer_input(12)

    y_parallel, state_parallel = mixer(x)
    state = None
    steps = []
    for t in range(x.shape[1]):
        y_t, state = mixer.step(x[:, t], state)
        steps.append(y_t)

    assert_close(torch.stack(steps, dim=1), y_parallel, ATOL_OUT, "outputs")
    for part_step, part_parallel in zip(
        flatten_state(state), flatten_state(state_parallel), strict=True
    ):
        assert_close(part_step, part_parallel, ATOL_OUT, "state")


def test_gated_deltanet_starts_with_slow_decay() -> None:
    mixer = DeltaNet(D_MODEL, heads=4, gated=True)
    alphas = torch.sigmoid(mixer.gate.bias)
    assert alphas.min() >= 0.9 - 1e-6
    assert alphas.max() <= 0.99 + 1e-6


BAD_OPTIONS = [
    pytest.param(LinearFWP, {"d_model": 0}, "d_model=0", id="fwp-d_model"),
    pytest.param(LinearFWP, {"d_model": 8, "heads": 0}, "heads=0", id="fwp-heads"),
    pytest.param(LinearFWP, {"d_model": 3, "heads": 4}, "heads=4", id="fwp-too-many-heads"),
    pytest.param(LinearFWP, {"d_model": 8, "head_dim": -2}, "head_dim=-2", id="fwp-head_dim"),
    pytest.param(
        LinearFWP, {"d_model": 8, "feature_map": "relu"}, "feature_map='relu'", id="fwp-map"
    ),
    pytest.param(LinearFWP, {"d_model": 8, "dpfp_nu": 0}, "dpfp_nu=0", id="fwp-nu-zero"),
    pytest.param(
        LinearFWP,
        {"d_model": 8, "heads": 4, "feature_map": "dpfp", "dpfp_nu": 4},
        "dpfp_nu=4",
        id="fwp-nu-too-large",
    ),
    pytest.param(LinearFWP, {"d_model": 8, "chunk_size": 0}, "chunk_size=0", id="fwp-chunk"),
    pytest.param(LinearFWP, {"d_model": 8, "form": "fast"}, "form='fast'", id="fwp-form"),
    pytest.param(DeltaNet, {"d_model": 0}, "d_model=0", id="delta-d_model"),
    pytest.param(DeltaNet, {"d_model": 8, "heads": 0}, "heads=0", id="delta-heads"),
    pytest.param(DeltaNet, {"d_model": 3, "heads": 4}, "heads=4", id="delta-too-many-heads"),
    pytest.param(DeltaNet, {"d_model": 8, "head_dim": 0}, "head_dim=0", id="delta-head_dim"),
    pytest.param(DeltaNet, {"d_model": 8, "beta_range": "03"}, "beta_range='03'", id="delta-beta"),
    pytest.param(DeltaNet, {"d_model": 8, "conv_size": 0}, "conv_size=0", id="delta-conv"),
    pytest.param(DeltaNet, {"d_model": 8, "chunk_size": 2.5}, "chunk_size=2.5", id="delta-chunk"),
    pytest.param(DeltaNet, {"d_model": 8, "form": "fast"}, "form='fast'", id="delta-form"),
    pytest.param(
        DeltaNet, {"d_model": 8, "backend": "cuda"}, "backend='cuda'", id="delta-backend"
    ),
]


@pytest.mark.parametrize(("mixer_class", "options", "named"), BAD_OPTIONS)
def test_bad_options_are_refused_by_name(mixer_class, options: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        mixer_class(**options)


@pytest.mark.skipif(fla_available(), reason="flash-linear-attention and CUDA are available")
def test_fla_backend_without_fla_says_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"backend='fla'.*backend='torch'"):
        DeltaNet(D_MODEL, backend="fla")


@pytest.mark.skipif(not fla_available(), reason="needs CUDA and flash-linear-attention")
@pytest.mark.parametrize("gated", [False, True], ids=["deltanet", "gated-deltanet"])
def test_fla_backend_matches_the_torch_reference(gated: bool) -> None:
    """The fla kernels run in bfloat16; the reference is the recurrent form in float32."""
    torch.manual_seed(0)
    reference = DeltaNet(64, heads=2, gated=gated, form="recurrent").cuda()
    fast = DeltaNet(64, heads=2, gated=gated, backend="fla").cuda()
    fast.load_state_dict(reference.state_dict())
    x = torch.randn(2, 100, 64, device="cuda")

    y_ref, (state_ref, conv_ref) = reference(x[:, :60])
    y_ref_tail, (state_ref, _) = reference(x[:, 60:], (state_ref, conv_ref))
    y_fast, (state_fast, conv_fast) = fast(x[:, :60])
    y_fast_tail, (state_fast, _) = fast(x[:, 60:], (state_fast, conv_fast))

    error = (torch.cat([y_fast, y_fast_tail], 1) - torch.cat([y_ref, y_ref_tail], 1)).abs()
    assert error.max().item() < ATOL_FLA
    assert (state_fast.float() - state_ref).abs().max().item() < ATOL_FLA
