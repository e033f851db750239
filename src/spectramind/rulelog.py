"""Logging of the rule scripts: their messages and any uncaught error go to the rule's log file."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["log_to"]

FORMAT = "%(asctime)s %(message)s"


class _LogFile(logging.FileHandler):
    """A log file whose failed writes (disk full, file system gone read-only) print one line
    on stderr, once, instead of logging's ``--- Logging error ---`` traceback per record."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if not self.failed:
            self.failed = True
            exc = sys.exc_info()[1]
            print(f"spectramind: cannot write the log {self.baseFilename}: {exc}", file=sys.stderr)


def log_to(path: str | Path, *, echo: Sequence[str] = (), prefix: str = "") -> None:
    """Route logging to ``path`` (the rule's ``log:``) and record an uncaught exception there.

    Snakemake answers a failed job with "check log file(s) for error details"; without the
    hook the error (a :class:`~spectramind.io.DataError` naming the file, say) reaches only
    the job's stderr and the log ends just before it. The error is still printed to stderr.
    The messages of the loggers named in ``echo`` (e.g. ``spectramind.model``: training
    progress) also go to stderr, the terminal of a local run, each line after ``prefix``.
    """
    try:
        handler = _LogFile(path)
    except OSError as exc:  # a read-only or full results/: one line, not a logging traceback
        raise SystemExit(
            f"spectramind: cannot write the log {path}: {exc.strerror or exc}"
        ) from None
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(handlers=[handler], level=logging.INFO)
    for name in echo:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(prefix + "%(message)s"))
        logging.getLogger(name).addHandler(stream)
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        logging.getLogger().error("%s: %s", kind.__name__, value, exc_info=(kind, value, tb))
        previous(kind, value, tb)

    sys.excepthook = hook
