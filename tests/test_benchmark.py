"""The mixer benchmark: every form timed, the chunkwise one as the baseline, and each form's
distance from the recurrent reference."""

from __future__ import annotations

import math

from fast_weights.benchmark import BASELINE, as_records, benchmark, format_table


def test_every_form_is_timed_against_the_chunkwise_one() -> None:
    results = benchmark(batch=2, length=19, d_model=8, heads=2, chunk_size=5, repeats=1)
    forms = {(r.mixer, r.form) for r in results}
    for mixer in ("linear_fwp", "delta_net", "gated_delta_net"):
        assert {(mixer, form) for form in ("recurrent", "chunkwise", "parallel")} <= forms
    for result in results:
        assert result.seconds > 0 and math.isfinite(result.speedup)
        assert result.max_error < 1e-4, (result.mixer, result.form)  # float32, one input
        if result.form == BASELINE:
            assert result.speedup == 1.0
        if result.form == "recurrent":
            assert result.max_error == 0.0
    table = format_table(results).splitlines()
    assert len(table) == 2 + len(results)
    assert as_records(results)[0].keys() == {"mixer", "form", "seconds", "speedup", "max_error"}
