"""Atomic writes into calendars/, notices/ and the outbox.

A file is written to a temporary file in its own folder, flushed to disk and renamed
over the old one, so readers see the old bytes or the new, never half a file. Files
whose bytes have not changed are left alone (their mtime too, which keeps HTTP caches
and If-Modified-Since honest). A set of files (:func:`write_trees`) is written whole: every
new file is staged first, and only when all are on disk are they renamed into place.

`build`'s set is whole too (:func:`publish_trees`): each folder it writes holds a record of
the files it wrote there, :data:`MANIFEST`, with each file's SHA-256. The next build removes,
in the same all-or-nothing swap, every file the record lists that it no longer writes (a
window skipped or gone out of the published span, a product or calendar removed) and whose
bytes are still those build wrote. A file no record lists (the folder's README, a favicon,
the posts `send` writes) is never touched; a listed file someone changed since is left in
place, named, and no longer listed. Nor is a file build did not write ever replaced: a build
that would overwrite one (a site's own index.html in a folder given to --notices) is refused
whole. Without a record (a folder new to build, or one an older build wrote), a file counts
as build's when it carries ctmaint's marks. The record lives in the folder, not in the state, so it
travels with the folder (copied, rsynced, given to --calendars on another host) and each
folder answers only for what was written into it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Collection, Mapping, Sequence
from contextlib import suppress
from pathlib import Path, PurePosixPath

from msgspec import Struct, field

PUBLIC, PRIVATE = 0o644, 0o600
_TEMPORARY = ".tmp"
MANIFEST = ".ctmaint-build.json"  # in each folder build writes: what it wrote there
_ABOUT = (
    "The files `ctmaint build` wrote in this folder, with their SHA-256. The next build "
    "removes those it no longer writes, if unchanged; files not listed are never touched."
)


def write_atomic(path: Path, data: bytes, mode: int = PUBLIC, staging: Path | None = None) -> bool:
    """Replace ``path`` with ``data``; return False if it already held exactly that.
    ``staging`` (a folder on the same filesystem) holds the file while it is written, so
    that a process killed mid-write leaves nothing beside ``path``; default its folder."""
    if _holds(path, data):
        return False
    _swap([(_stage(path, data, mode, staging), path)])
    return True


def write_private(path: Path, data: bytes, staging: Path | None = None) -> bool:
    """:func:`write_atomic` for what only the owner may read (the outbox): the file 0600,
    its folder 0700 when created."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return write_atomic(path, data, PRIVATE, staging)


def staging_folder(folder: Path) -> Path:
    """Where files of ``folder`` are staged (see :func:`staging_beside`)."""
    return folder.parent / f".{folder.name}.staging"


def staging_beside(folder: Path) -> Path | None:
    """A private folder beside ``folder``, on its filesystem, to stage its files in (see
    :func:`write_atomic`); None where none can be made there (then files are staged in
    ``folder`` itself)."""
    staging = staging_folder(folder)
    try:
        staging.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if staging.stat().st_dev != folder.stat().st_dev:
            return None
    except OSError:
        return None
    return staging


def write_trees(
    trees: Mapping[Path, Mapping[str, bytes]],
    remove: Sequence[Path] = (),
    private: Collection[Path] = (),
) -> list[Path]:
    """Write every ``relative path -> bytes`` under each root, as one set (calendars/ and
    notices/ together), all or nothing; return the paths changed. The files in ``remove``
    are removed in the same swap; those in ``private`` are readable by their owner only
    from the moment they exist.

    Every changed file is staged beside its target first; if any staging fails (a full
    disk, a folder that cannot be written) the staged files are removed and the previous
    files stay as they were. Only then are the staged files renamed into place.
    """
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
            mode = PRIVATE if path in private else PUBLIC
            staged.append((_stage(path, data_of[path], mode), path))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    _swap(staged, remove)
    return changed


class Published(Struct):
    """What :func:`publish_trees` did: files written, files removed, and why any file an
    earlier build wrote and this one does not was left in place."""

    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def publish_trees(trees: Mapping[Path, Mapping[str, bytes]]) -> Published:
    """Write each ``folder -> files`` as build's whole set in that folder, with its
    :data:`MANIFEST`, and remove what the previous set held and this one does not (see the
    module docstring); all of it one swap: on failure every folder is left as it was."""
    published = Published()
    whole: dict[Path, dict[str, bytes]] = {}
    for root, files in trees.items():
        earlier = _read_manifest(root, published.notes)
        _refuse_foreign(root, earlier, files)
        published.removed += _stale(root, earlier, files, published.notes)
        whole[root] = {**files, MANIFEST: _manifest(files)}
    if published.removed:  # one folder inside the other: the other may write it now
        writing = {(root / rel).resolve() for root, files in whole.items() for rel in files}
        published.removed = [path for path in published.removed if path.resolve() not in writing]
    published.written = write_trees(whole, published.removed)
    return published


class ForeignFile(Exception):
    """A file build would replace but did not write."""


# What ctmaint's own files carry, by kind: a page, a calendar, a feed, a status JSON, the CSS.
_MARKS = (
    b'<meta name="generator" content="ctmaint">',
    b'id="product-all"',  # the index page of builds from before the generator mark
    b'<article class="window" data-window=',  # a window page of those builds
    b"//ctmaint ",  # a calendar's PRODID
    b"<generator>ctmaint</generator>",  # RSS and Atom
    b'{"page":{"id":',  # index.json and the Statuspage API files
    b"written by `ctmaint build`",  # status.css
)


def write_own(root: Path, relative: str, data: bytes) -> bool:
    """:func:`write_atomic` of ``root/relative`` for a file that is ctmaint's to replace (the
    index.json `send` rewrites): ForeignFile if what is there was not written by ctmaint."""
    _refuse_foreign(root, _read_manifest(root, []), {relative: data})
    return write_atomic(root / relative, data)


def _refuse_foreign(root: Path, earlier: Mapping[str, str], files: Mapping[str, bytes]) -> None:
    """ForeignFile naming the first file under ``root`` this build would replace that no
    build wrote: not in the record, not the same bytes, and without ctmaint's marks."""
    for relative, data in sorted(files.items()):
        if relative in earlier:
            continue
        path = root / relative
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                continue
            held = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            continue
        if held != data and not any(mark in held for mark in _MARKS):
            raise ForeignFile(
                f"{path} was not written by ctmaint, which would replace it: move it, or give "
                "ctmaint a folder of its own; nothing was written there"
            )


def _manifest(files: Mapping[str, bytes]) -> bytes:
    digests = {relative: _digest(data) for relative, data in sorted(files.items())}
    return (json.dumps({"about": _ABOUT, "files": digests}, indent=1) + "\n").encode()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(root: Path, notes: list[str]) -> dict[str, str]:
    """``relative path -> SHA-256`` of what the last build wrote in ``root``; empty if no
    build recorded one (a new folder, or a build before the record existed)."""
    path = root / MANIFEST
    try:
        files = json.loads(path.read_bytes())["files"]
        if isinstance(files, dict) and all(isinstance(v, str) for v in files.values()):
            return {str(relative): digest for relative, digest in files.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    notes.append(
        f"{path} is not the record build writes; files an earlier build wrote in {root} "
        "and this one does not are left in place"
    )
    return {}


def _stale(
    root: Path, earlier: Mapping[str, str], files: Mapping[str, bytes], notes: list[str]
) -> list[Path]:
    """The files under ``root`` the last build wrote, this one does not, and nobody has
    changed since; a changed one is named in ``notes`` and left."""
    stale = []
    inside = root.resolve()
    for relative, digest in sorted(earlier.items()):
        if relative in files or not _plain_relative(relative):
            continue
        path = root / relative
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                continue  # a folder or a link put there since: not build's file
            if not path.resolve().is_relative_to(inside):
                notes.append(f"left {path}: a link leads out of {root} to it")
                continue
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone already
        except OSError:
            data = b""
        if _digest(data) == digest:
            stale.append(path)
        else:
            notes.append(
                f"left {path}: build no longer writes it, but it changed since build wrote "
                "it; remove it if it is not wanted"
            )
    return stale


def _plain_relative(relative: str) -> bool:
    """Whether ``relative`` names a file inside the folder, as build writes paths."""
    pure = PurePosixPath(relative)
    return (
        str(pure) == relative
        and not pure.is_absolute()
        and all(part not in ("", ".", "..") for part in pure.parts)
        and relative != MANIFEST
    )


def _swap(staged: list[tuple[Path, Path]], removed: Sequence[Path] = ()) -> None:
    """Rename each staged file over its target and remove each file in ``removed``, all or
    none.

    Before the first rename every target that exists, and every file to remove, is
    hard-linked to a backup name; if a rename or a removal fails (a target made immutable,
    a folder gone read-only), the files already replaced or removed get their old bytes
    back and the new ones are removed, so readers never see a mix of two builds.
    """
    backups: list[tuple[Path, Path | None]] = []
    done: set[Path] = set()
    try:
        for path in [*(target for _, target in staged), *removed]:
            backups.append((path, _backup(path)))
        for temporary, path in staged:
            os.replace(temporary, path)
            done.add(path)
        for path in removed:
            os.unlink(path)
            done.add(path)
    except BaseException:
        for path, backup in backups:
            if path not in done:
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


def _stage(path: Path, data: bytes, mode: int, staging: Path | None = None) -> Path:
    """``data`` in a new temporary file in ``staging`` (default: beside ``path``), on disk,
    with ``mode``."""
    folder = staging or path.parent
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=_TEMPORARY)
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
