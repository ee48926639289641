"""The scripts as a user runs them: exit status, one-line errors, run folders, sweeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, small_corpus_text

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run_script(script: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if "error: " in line]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path, dict]:
    """One training run through ``scripts/train.py``: (working dir, run folder, metrics)."""
    cwd = tmp_path_factory.mktemp("cli")
    corpus = cwd / "corpus.txt"
    corpus.write_text(small_corpus_text(), encoding="utf-8")
    result = run_script("train.py", f"data.path={corpus}", *TINY, cwd=cwd)
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = (cwd / "outputs" / "train" / "runs").iterdir()
    assert f"Run folder: {run}" in result.stderr
    return cwd, run, json.loads((run / "metrics.json").read_text())


def test_train_then_evaluate_then_generate(trained_run) -> None:
    cwd, _, metrics = trained_run
    corpus = cwd / "corpus.txt"
    ckpt = metrics["checkpoint"]

    evaluated = run_script("evaluate.py", f"ckpt_path={ckpt}", f"data.path={corpus}", cwd=cwd)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "val" in evaluated.stdout and "test" in evaluated.stdout
    (eval_run,) = (cwd / "outputs" / "evaluate" / "runs").iterdir()
    scored = json.loads((eval_run / "metrics.json").read_text())
    assert scored["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-5)
    assert f"{scored['val/loss']:.4f}" in evaluated.stdout

    generated = run_script(
        "generate.py", f"ckpt_path={ckpt}", "prompt=First, Citizen", "length=30", cwd=cwd
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    (gen_run,) = (cwd / "outputs" / "generate" / "runs").iterdir()
    text = (gen_run / "samples.txt").read_text()
    assert text.startswith("First, Citizen") and len(text.rstrip("\n")) >= 14 + 30 - 1
    assert text.strip() in generated.stdout


def test_unknown_key_is_refused_before_any_folder_is_made(tmp_path: Path) -> None:
    result = run_script("train.py", "model.hiden_size=8", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "hiden_size" in line
    assert not (tmp_path / "outputs").exists()


def test_prepare_data_prints_the_corpus_summary(trained_run) -> None:
    cwd, _, _ = trained_run
    result = run_script("prepare_data.py", f"data.path={cwd / 'corpus.txt'}", cwd=cwd)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "vocabulary  36 characters" in result.stdout
    assert "splits      train" in result.stdout


def run_sweep(cwd: Path, sweep: str) -> tuple[subprocess.CompletedProcess, Path]:
    """A one-epoch multirun of the small model over ``sweep``; returns it and its folder."""
    corpus = cwd / "corpus.txt"
    corpus.write_text(small_corpus_text(), encoding="utf-8")
    swept = sweep.partition("=")[0]
    overrides = [o for o in TINY if not o.startswith(swept)]
    result = run_script(
        "train.py",
        "-m",
        sweep,
        f"data.path={corpus}",
        *overrides,
        "trainer.max_epochs=1",
        cwd=cwd,
    )
    sweeps = list((cwd / "outputs" / "train" / "multiruns").glob("*"))
    assert len(sweeps) == 1, result.stderr[-2000:]
    return result, sweeps[0]


def test_multirun_gives_each_job_its_own_folder(tmp_path: Path) -> None:
    result, sweep = run_sweep(tmp_path, "model.seq_length=8,16")
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    for job, seq_length in zip(jobs, (8, 16), strict=True):
        assert f"model.seq_length={seq_length}" in (job / ".hydra" / "overrides.yaml").read_text()
        assert (job / "metrics.json").is_file()
    summary = (sweep / "summary.md").read_text().splitlines()
    assert summary[2].startswith("| 0 | model.seq_length=8 ")
    assert summary[3].startswith("| 1 | model.seq_length=16 ")


def test_a_failing_job_does_not_stop_the_sweep(tmp_path: Path) -> None:
    result, sweep = run_sweep(tmp_path, "optimizer.lr=-1,0.003")
    assert result.returncode == 1, result.stderr[-2000:]
    failure = json.loads((sweep / "0" / "failure.json").read_text())
    assert "optimizer.lr=-1" in failure["error"]
    assert "optimizer.lr=-1" in (sweep / "0" / "train.log").read_text()
    assert (sweep / "1" / "metrics.json").is_file()
    rows = (sweep / "summary.md").read_text().splitlines()
    assert rows[2].startswith("| 0 | optimizer.lr=-1 ") and "| failed: optimizer.lr=-1" in rows[2]
    assert rows[3].startswith("| 1 | optimizer.lr=0.003 ") and "failed" not in rows[3]
