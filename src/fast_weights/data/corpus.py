"""Finding, downloading and reading the text corpus."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from fast_weights.errors import DataError
from fast_weights.io import atomic_write_bytes

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ensure_corpus(path: str | os.PathLike, url: str | None, sha256: str | None) -> Path:
    """Returns ``path``, downloading the corpus there first if it is absent.

    A download is checked against ``sha256`` (when given) before it is written, and written
    atomically, so a failed or corrupted download leaves nothing at ``path``. A file already
    at ``path`` is used as it is: any text file can serve as a corpus.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"data.path={path} is a directory; expected a text file")
    if path.exists():
        return path
    if not url:
        raise DataError(f"corpus not found at {path}; put a text file there or set data.path")

    log.info("Downloading the corpus from %s to %s", url, path)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(
            f"corpus not found at {path} and the download from {url} failed ({reason}); "
            f"put the corpus file at {path} or set data.path to a text file"
        ) from None
    if sha256 and sha256_of(data) != sha256:
        raise DataError(
            f"the download from {url} has SHA-256 {sha256_of(data)}, expected {sha256}; "
            f"nothing was written to {path}"
        )
    atomic_write_bytes(path, data)
    return path


def read_corpus(path: str | os.PathLike) -> str:
    """The UTF-8 text of the corpus file, refusing empty, binary or non-UTF-8 files."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"data.path={path} is a directory; expected a text file") from None
    except OSError as err:
        raise DataError(f"cannot read corpus {path}: {err.strerror}") from None
    if not data:
        raise DataError(f"corpus {path} is empty; expected a UTF-8 text file")
    if b"\x00" in data:
        raise DataError(f"corpus {path} contains NUL bytes; expected a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"corpus {path} is not valid UTF-8 (byte {err.start}); expected a UTF-8 text file"
        ) from None
