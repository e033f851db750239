"""Read-ahead of an iterator in a background thread (decode the next batch while this one
is computed: Arrow's decoder and the numba kernels release the GIL)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["Prefetch", "prefetch"]

T = TypeVar("T")
_POLL_S = 0.1  # how often a blocked producer checks whether the consumer has gone


class _End:
    """Marks the end of the stream (or carries the producer's exception)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Prefetch(Iterator[T]):
    """Iterator over ``items`` produced by a thread started at construction, up to ``depth``
    items ahead of the consumer (see :func:`prefetch`)."""

    def __init__(self, items: Iterable[T], depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._worker = threading.Thread(
            target=self._produce, args=(items,), name="prefetch", daemon=True
        )
        self._worker.start()

    def _put(self, item: T | _End) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, items: Iterable[T]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_End(exc))
            return
        self._put(_End())

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self.close()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the producer (after at most the item it is producing) and wait for it."""
        self._done = True
        self._stop.set()
        if self._worker is not threading.current_thread():
            self._worker.join()

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)  # absent when __init__ refused the depth
        if stop is not None:
            stop.set()


def prefetch(items: Iterable[T], depth: int = 1) -> Prefetch[T]:
    """Iterate ``items`` in a background thread, started now, up to ``depth`` items ahead.

    The items come in order; an exception raised by ``items`` is raised by the consumer's
    ``next`` at the position it occurred (after the items before it). ``close()`` (or
    garbage collection) stops the producer after at most the item it is producing.
    """
    return Prefetch(items, depth)
