"""Atomic file writes shared by every piece that writes results.

A file is written beside its destination under a temporary name, flushed to disk and
renamed over the destination, so a killed process never leaves a file that looks
complete (rename is atomic on POSIX within one file system).
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically."""
    return _atomic_write(path, lambda fh: fh.write(text), "w")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    return _atomic_write(path, lambda fh: fh.write(data), "wb")


def _json_safe(obj: Any) -> Any:
    """Replace NaN/inf floats by None: strict JSON has no NaN."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented, strict JSON (NaN/inf become null) atomically."""
    return atomic_write_text(path, json.dumps(_json_safe(obj), indent=2, sort_keys=True) + "\n")


def atomic_write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame as CSV (no index) atomically."""
    return _atomic_write(path, lambda fh: frame.to_csv(fh, index=False), "w")


def _csv_cell(value: Any) -> Any:
    """As pandas writes it: NaN (and None) as an empty cell, numpy scalars as Python numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value.item() if hasattr(value, "item") else value


def atomic_write_rows(path: str | os.PathLike, rows: list[dict], columns: list[str]) -> Path:
    """Write dict rows as CSV with a header (the columns, in order) atomically.

    The training command's writer: the standard library's csv, so that training does not
    import pandas (half a second of every job's start-up); the file reads back as the
    DataFrame that `atomic_write_csv` would have written.
    """

    def write(fh) -> None:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(row.get(c)) for c in columns] for row in rows)

    return _atomic_write(path, write, "w")


def git_commit() -> str | None:
    """The commit of the package's checkout, if it is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
