"""Every entry point, fed bad input: a non-zero exit, one ``error:`` line naming the value and
what is accepted, no traceback, and nothing half written."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fast_weights.train import train
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Case:
    script: str
    overrides: tuple[str, ...]
    named: str  # what the error line must contain

    @property
    def id(self) -> str:
        return f"{self.script.removesuffix('.py')}:{' '.join(self.overrides)}"


T, E, G, P = "train.py", "evaluate.py", "generate.py", "prepare_data.py"
N, B = "ngram_baselines.py", "benchmark_mixers.py"
CASES = [
    # Config keys, groups, types and ranges; caught before any folder is made.
    Case(T, ("model.hiden_size=8",), "hiden_size"),
    Case(T, ("model=gru",), "model/gru"),
    Case(T, ("optimizer.lr=-1",), "optimizer.lr=-1"),
    Case(T, ("optimizer.lr=abc",), "optimizer.lr='abc'"),
    Case(T, ("model.seq_length=0",), "model.seq_length=0"),
    Case(T, ("model.seq_length=2.5",), "model.seq_length=2.5"),
    Case(T, ("model.d_model=0",), "model.d_model=0"),
    Case(T, ("model.num_layers=-1",), "model.num_layers=-1"),
    Case(T, ("model.dropout=1.5",), "model.dropout=1.5"),
    Case(T, ("model.mixer.memory=dense",), "memory='dense'"),
    Case(T, ("data.batch_size=0",), "data.batch_size=0"),
    Case(T, ("data.val_fraction=0.5",), "sum to 1"),
    Case(T, ("data.chars_per_epoch=-10",), "data.chars_per_epoch=-10"),
    Case(T, ("sampling.temperature=0",), "sampling.temperature=0"),
    Case(T, ("sampling.top_k=0",), "sampling.top_k=0"),
    Case(T, ("sampling.length=99999999",), "sampling.length=99999999"),
    Case(T, ("trainer.max_epochs=-5",), "trainer.max_epochs=-5"),
    Case(T, ("seed=-1",), "seed=-1"),
    Case(T, ("paths.log_dir=FILE/outputs",), "paths.log_dir"),
    # Data and checkpoints, found once the run has started.
    Case(T, ("model.seq_length=100000",), "seq_length=100000"),
    Case(T, ("data.path=EMPTY",), "is empty"),
    Case(T, ("data.path=BINARY",), "NUL bytes"),
    Case(T, ("data.path=LATIN1",), "not valid UTF-8"),
    Case(T, ("data.path=DIR",), "is a directory"),
    Case(T, ("data.path=DIR/absent.txt", "data.url=null"), "corpus not found"),
    Case(T, ("ckpt_path=DIR/absent.ckpt",), "does not exist"),
    Case(T, ("ckpt_path=TEXT",), "cannot load checkpoint"),
    Case(E, (), "ckpt_path is missing"),
    Case(E, ("ckpt_path=DIR/absent.ckpt",), "does not exist"),
    Case(E, ("ckpt_path=DIR",), "is a directory"),
    Case(E, ("ckpt_path=TRUNCATED",), "cannot load checkpoint"),
    Case(E, ("ckpt_path=CKPT", "data.path=BINARY"), "NUL bytes"),
    Case(G, ("ckpt_path=CKPT", "temperature=0"), "temperature=0"),
    Case(G, ("ckpt_path=CKPT", "temperature=-1"), "temperature=-1"),
    Case(G, ("ckpt_path=CKPT", "top_k=0"), "top_k=0"),
    Case(G, ("ckpt_path=CKPT", "length=-5"), "length=-5"),
    Case(G, ("ckpt_path=CKPT", "length=100000000"), "length=100000000"),
    Case(G, ("ckpt_path=CKPT", "num_samples=0"), "num_samples=0"),
    Case(G, ("ckpt_path=CKPT", "device=tpu"), "device='tpu'"),
    Case(G, ("ckpt_path=CKPT", "prompt="), "prompt=''"),
    Case(G, ("ckpt_path=CKPT", "prompt=Zea"), "'Z'"),
    Case(G, ("ckpt_path=TRUNCATED",), "cannot load checkpoint"),
    Case(P, ("data.path=EMPTY",), "is empty"),
    Case(P, ("data.test_fraction=0",), "data.test_fraction=0"),
    Case(P, ("data.pth=x",), "data.pth"),
    Case(N, ("data.path=BINARY",), "NUL bytes"),
    Case(N, ("data.val_fraction=0.5",), "sum to 1"),
    Case(B, ("--length=0",), "--length: '0' is not accepted"),
    Case(B, ("--device=tpu",), "invalid choice: 'tpu'"),
    Case(B, ("--heads=x",), "--heads: 'x' is not accepted"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, str]:
    """Bad files of every kind, and one good checkpoint to misuse."""
    root = tmp_path_factory.mktemp("bad-inputs")
    files = {
        "EMPTY": b"",
        "BINARY": b"\x00\x01\x02\x03" * 100,
        "LATIN1": "caf\xe9 cr\xe8me\n".encode("latin-1") * 100,
        "TEXT": b"this is not a checkpoint\n",
        "FILE": b"a file where a folder should be\n",
    }
    paths = {"DIR": str(root)}
    for name, content in files.items():
        (root / name.lower()).write_bytes(content)
        paths[name] = str(root / name.lower())

    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR, small_corpus_text

    corpus = root / "corpus.txt"
    corpus.write_text(small_corpus_text(), encoding="utf-8")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [f"paths.log_dir={root}/logs", f"data.path={corpus}", *TINY])
    cfg.paths.output_dir = str(root / "trained")
    train(cfg)
    checkpoint = root / "trained" / "checkpoints" / "last.ckpt"
    paths["CKPT"] = str(checkpoint)
    (root / "truncated.ckpt").write_bytes(checkpoint.read_bytes()[:5000])
    paths["TRUNCATED"] = str(root / "truncated.ckpt")
    paths["CORPUS"] = str(corpus)
    return paths


def run_case(case: Case, paths: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    overrides = []
    for override in case.overrides:
        key, _, value = override.partition("=")
        for name, path in paths.items():
            value = value.replace(name, path) if value.startswith(name) else value
        overrides.append(f"{key}={value}")
    if case.script in (T, P, E, N) and not any(o.startswith("data.path") for o in overrides):
        overrides.append(f"data.path={paths['CORPUS']}")
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / case.script), *overrides, *tiny_for(case)],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "HYDRA_FULL_ERROR": "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def tiny_for(case: Case) -> list[str]:
    """Small settings for the training cases, so that the ones that start run briefly."""
    if case.script != T:
        return []
    keys = {o.partition("=")[0] for o in case.overrides}
    return [o for o in TINY if o.partition("=")[0] not in keys]


@pytest.fixture(scope="module")
def results(workspace, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every case, run in parallel, each in a folder of its own."""
    root = tmp_path_factory.mktemp("cases")
    folders = {case.id: root / f"case{index}" for index, case in enumerate(CASES)}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        done = {
            case.id: pool.submit(run_case, case, workspace, folders[case.id]) for case in CASES
        }
        return {key: (future.result(), folders[key]) for key, future in done.items()}


def test_there_are_at_least_thirty_distinct_cases() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_one_error_line_and_writes_nothing_half(case: Case, results) -> None:
    result, cwd = results[case.id]
    assert result.returncode != 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, result.stderr[-3000:]
    assert case.named in errors[0]
    written = [p for p in cwd.rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix in (".tmp", ".ckpt") or p.name == "metrics.json"]
    assert not [p for p in written if p.stat().st_size == 0 and p.suffix != ".log"]
