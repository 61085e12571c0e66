"""Atomic writes into calendars/, notices/ and the outbox.

A file is written to a temporary file in its own folder, flushed to disk and renamed
over the old one, so readers see the old bytes or the new, never half a file. Files
whose bytes have not changed are left alone (their mtime too, which keeps HTTP caches
and If-Modified-Since honest). A set of files (:func:`write_tree`) is written whole: every
new file is staged first, and only when all are on disk are they renamed into place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

PUBLIC, PRIVATE = 0o644, 0o600
_TEMPORARY = ".tmp"


def write_atomic(path: Path, data: bytes, mode: int = PUBLIC) -> bool:
    """Replace ``path`` with ``data``; return False if it already held exactly that."""
    if _holds(path, data):
        return False
    _swap([(_stage(path, data, mode), path)])
    return True


def write_private(path: Path, data: bytes) -> bool:
    """:func:`write_atomic` for what only the owner may read (the outbox): the file 0600,
    its folder 0700 when created."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return write_atomic(path, data, PRIVATE)


def write_tree(root: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write every ``relative path -> bytes`` under ``root``, all or nothing; return the
    paths changed.

    Every changed file is staged beside its target first; if any staging fails (a full
    disk, a folder that cannot be written) the staged files are removed and the previous
    files stay as they were. Only then are the staged files renamed into place.
    """
    return write_trees({root: files})


def write_trees(trees: Mapping[Path, Mapping[str, bytes]]) -> list[Path]:
    """:func:`write_tree` for several roots as one set (calendars/ and notices/ together)."""
    changed = [
        root / relative
        for root, files in trees.items()
        for relative, data in sorted(files.items())
        if not _holds(root / relative, data)
    ]
    data_of = {root / rel: data for root, files in trees.items() for rel, data in files.items()}
    staged: list[tuple[Path, Path]] = []
    try:
        for path in changed:
            staged.append((_stage(path, data_of[path], PUBLIC), path))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    _swap(staged)
    return changed


def _swap(staged: list[tuple[Path, Path]]) -> None:
    """Rename each staged file over its target, all or none.

    Before the first rename every target that exists is hard-linked to a backup name; if a
    rename fails (a target made immutable, a folder gone read-only), the targets already
    replaced get their old bytes back and the new ones are removed, so readers never see a
    mix of two builds.
    """
    backups: list[tuple[Path, Path | None]] = []
    swapped: list[Path] = []
    try:
        for _, path in staged:
            backups.append((path, _backup(path)))
        for temporary, path in staged:
            os.replace(temporary, path)
            swapped.append(path)
    except BaseException:
        for path, backup in backups:
            if path not in swapped:
                continue
            if backup is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(backup, path)
        raise
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for _, backup in backups:
            if backup is not None:
                backup.unlink(missing_ok=True)


def _backup(path: Path) -> Path | None:
    """A hard link to ``path``'s current file under a temporary name, or None if none."""
    if not path.exists():
        return None
    name = tempfile.mktemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".old{_TEMPORARY}")
    os.link(path, name)
    return Path(name)


def remove_stale_temporaries(folder: Path) -> int:
    """Remove temporary files a killed process left in ``folder``; return how many.
    Call only while no other writer can be staging there (the send lock)."""
    removed = 0
    with suppress(FileNotFoundError):
        for path in folder.glob(f".*{_TEMPORARY}"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False


def _stage(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a new temporary file beside ``path``, on disk, with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMPORARY)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary
