"""Read-ahead iterator: order, errors at their position, early stop, bounded look-ahead."""

from __future__ import annotations

import threading
import time

import pytest

from spectramind.streams import prefetch

WAIT_S = 2.0  # generous bound for a background thread to reach a state on a loaded machine


def test_items_in_order():
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))


def test_error_raised_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise KeyError("bad page")

    it = prefetch(items())
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(KeyError, match="bad page"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_producer_starts_before_the_first_next_and_stays_depth_ahead():
    produced = []

    def items():
        for i in range(10):
            produced.append(i)
            yield i

    it = prefetch(items(), depth=2)
    deadline = time.monotonic() + WAIT_S
    while len(produced) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    # two items queued and the third produced, waiting for room: never more
    assert produced == [0, 1, 2]
    assert next(it) == 0
    it.close()
    assert len(produced) <= 4


def test_close_stops_the_thread():
    it = prefetch(iter(range(1000)), depth=1)
    next(it)
    it.close()
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(StopIteration):
        next(it)


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        prefetch(iter([1]), depth=0)
