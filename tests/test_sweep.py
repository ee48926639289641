"""The table written at the end of a sweep."""

import json
from pathlib import Path

from fast_weights.sweep import summarize


def make_job(sweep: Path, number: int, overrides: list[str], metrics: dict | None) -> None:
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))


def test_summary_lists_every_job_in_order_and_marks_unfinished_ones(tmp_path: Path) -> None:
    metrics = {"params": 1234, "steps": 10, "val/loss": 1.5, "test/loss": 1.625, "val/acc": 0.5}
    for number in (0, 1, 10):
        make_job(tmp_path, number, [f"model.seq_length={8 * (number + 1)}"], metrics)
    make_job(tmp_path, 2, ["optimizer.lr=-1"], None)
    failure = {"error": "optimizer.lr=-1\n  bad | worse"}  # several lines, and a pipe
    (tmp_path / "2" / "failure.json").write_text(json.dumps(failure))
    rows = summarize(tmp_path).splitlines()
    assert rows[0].startswith("| job | overrides | params |")
    assert [row.split(" | ")[0] for row in rows[2:]] == ["| 0", "| 1", "| 2", "| 10"]
    assert "| 1,234 | 10 | – | 1.5000 |" in rows[2]
    assert len(rows) == 6
    assert "optimizer.lr=-1 | failed: optimizer.lr=-1 bad / worse |" in rows[4]
