"""Atomic writes into calendars/ and notices/.

A file is written to a temporary file in its own folder, flushed to disk and renamed
over the old one, so readers see the old bytes or the new, never half a file. Files
whose bytes have not changed are left alone (their mtime too, which keeps HTTP caches
and If-Modified-Since honest).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data``; return False if it already held exactly that."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def write_tree(root: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write every ``relative path -> bytes`` under ``root``; return the paths changed.

    Callers render everything first and call this last, so a failure while rendering
    leaves every previous file intact.
    """
    changed = []
    for relative, data in sorted(files.items()):
        path = root / relative
        if write_atomic(path, data):
            changed.append(path)
    return changed
