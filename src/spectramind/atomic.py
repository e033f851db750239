"""The one atomic writer of the package: every product is written through :func:`atomic_write`.

``atomic_write(path, write)`` calls ``write(tmp)`` on ``{path}.part`` in the same folder (so the
final :func:`os.replace` is a rename on one file system), fsyncs it, then renames it over
``path``. On any failure, Ctrl-C included, the temporary file is removed and the exception
re-raised, so no half-written file ever carries the final name or stays behind; a write that
failed because the disk is full is re-raised as :class:`DiskFullError` (``disk full: <path>``),
whatever the writing library called it (netCDF4 says ``NetCDF: HDF error``).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["DiskFullError", "atomic_write", "atomic_write_text"]

#: free bytes below which a failed write is taken for a full disk: libraries that do not pass
#: ENOSPC on (HDF5) fail once a block cannot be allocated, so a few blocks is the tell
DISK_FULL_BYTES = 1 << 20


class DiskFullError(OSError):
    """A write failed because the file system holding ``path`` has no space left."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(errno.ENOSPC, f"disk full: {path}")

    def __str__(self) -> str:
        return f"disk full: {self.path}"


def part_path(path: str | Path) -> Path:
    """The temporary name of ``path`` (``{name}.part`` in the same folder)."""
    p = Path(path)
    return p.with_name(p.name + ".part")


def _disk_full(exc: BaseException, folder: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if not isinstance(exc, (OSError, RuntimeError)):  # Ctrl-C, a bug, a validation error
        return False
    try:
        return shutil.disk_usage(folder).free < DISK_FULL_BYTES
    except OSError:
        return False


def _fsync(path: Path) -> None:
    if path.is_dir():  # a writer may produce a folder (none does today); nothing to flush
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` on ``{path}.part``, fsync, rename to ``path``; nothing left on failure.

    The parent folder is created. Raises :class:`DiskFullError` (from the original error) when
    the disk is full, else whatever ``write`` raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = part_path(path)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as exc:  # failed or interrupted: leave no partial file behind
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if _disk_full(exc, path.parent):
            raise DiskFullError(path) from exc
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write` of a UTF-8 text."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
