"""Speed of each form of the fast-weight mixers, and how far each is from the reference.

For every mixer with several forms (the linear fast-weight programmer, DeltaNet, Gated
DeltaNet), one forward and backward pass on the same random input ``(batch, time, d_model)``
is timed for each form: the step-by-step ``recurrent`` reference, the ``chunkwise`` form that
training uses, the quadratic ``parallel`` form, and flash-linear-attention's kernels
(``fla``) where a CUDA device and the package are present. Each form's time is reported as a
ratio against the chunkwise form measured in the same run, and its outputs are compared with
the recurrent reference's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from fast_weights.models.mixers.delta_net import DeltaNet, fla_available
from fast_weights.models.mixers.linear_fwp import LinearFWP

BASELINE = "chunkwise"
"""The form every other form's time is divided by: the one training uses."""


@dataclass(frozen=True)
class Result:
    """One form of one mixer: median seconds per forward and backward pass, its speed-up over
    the chunkwise form (above 1 is faster), and the largest absolute difference of its
    outputs from the recurrent reference's."""

    mixer: str
    form: str
    seconds: float
    speedup: float
    max_error: float


def mixer_variants(d_model: int, heads: int, chunk_size: int) -> dict[str, dict[str, nn.Module]]:
    """Each mixer's forms, all with the weights of the first, keyed by mixer and form."""
    builders: dict[str, Callable[..., nn.Module]] = {
        "linear_fwp": lambda **kw: LinearFWP(d_model, heads=heads, **kw),
        "delta_net": lambda **kw: DeltaNet(d_model, heads=heads, **kw),
        "gated_delta_net": lambda **kw: DeltaNet(d_model, heads=heads, gated=True, **kw),
    }
    variants = {}
    for name, build in builders.items():
        forms = {
            form: build(form=form, chunk_size=chunk_size)
            for form in ("recurrent", "chunkwise", "parallel")
        }
        if name != "linear_fwp" and fla_available():
            forms["fla"] = build(backend="fla")
        for module in forms.values():
            module.load_state_dict(forms["recurrent"].state_dict())
        variants[name] = forms
    return variants


def time_pass(module: nn.Module, x: Tensor, repeats: int) -> tuple[float, Tensor]:
    """Median seconds of ``repeats`` forward and backward passes (after one warm-up), and the
    outputs ``(batch, time, d_model)`` of the last."""
    synchronize = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    timings = []
    for attempt in range(repeats + 1):
        module.zero_grad(set_to_none=True)
        synchronize()
        started = time.perf_counter()
        y, _ = module(x)
        y.square().mean().backward()
        synchronize()
        if attempt:  # the first pass warms caches and compiles kernels
            timings.append(time.perf_counter() - started)
    return statistics.median(timings), y.detach()


def benchmark(
    device: str = "cpu",
    batch: int = 8,
    length: int = 256,
    d_model: int = 64,
    heads: int = 4,
    chunk_size: int = 64,
    repeats: int = 5,
    seed: int = 0,
) -> list[Result]:
    """Times every form of every mixer on one random input; see the module docstring."""
    torch.manual_seed(seed)
    x = torch.randn(batch, length, d_model, device=device)
    results = []
    for name, forms in mixer_variants(d_model, heads, chunk_size).items():
        measured = {}
        for form, module in forms.items():
            measured[form] = time_pass(module.to(device), x, repeats)
        baseline = measured[BASELINE][0]
        reference = measured["recurrent"][1].float()
        for form, (seconds, outputs) in measured.items():
            error = (outputs.float() - reference).abs().max().item()
            results.append(Result(name, form, seconds, baseline / seconds, error))
    return results


def format_table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        f"| mixer | form | ms per pass | speed-up over {BASELINE} | max error vs recurrent |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.mixer} | {r.form} | {1000 * r.seconds:.2f} | {r.speedup:.2f}× "
            f"| {r.max_error:.2e} |"
        )
    return "\n".join(lines)


def as_records(results: list[Result]) -> list[dict]:
    """The results as JSON-ready dictionaries."""
    return [asdict(result) for result in results]
