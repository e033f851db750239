"""Logging of the rule scripts: their messages and any uncaught error go to the rule's log file."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["log_to"]

FORMAT = "%(asctime)s %(message)s"


def log_to(path: str | Path, *, echo: Sequence[str] = (), prefix: str = "") -> None:
    """Route logging to ``path`` (the rule's ``log:``) and record an uncaught exception there.

    Snakemake answers a failed job with "check log file(s) for error details"; without the
    hook the error (a :class:`~spectramind.io.DataError` naming the file, say) reaches only
    the job's stderr and the log ends just before it. The error is still printed to stderr.
    The messages of the loggers named in ``echo`` (e.g. ``spectramind.model``: training
    progress) also go to stderr, the terminal of a local run, each line after ``prefix``.
    """
    logging.basicConfig(filename=path, level=logging.INFO, format=FORMAT)
    for name in echo:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(prefix + "%(message)s"))
        logging.getLogger(name).addHandler(stream)
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        logging.getLogger().error("%s: %s", kind.__name__, value, exc_info=(kind, value, tb))
        previous(kind, value, tb)

    sys.excepthook = hook
