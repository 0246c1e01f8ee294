"""Reading runs ahead of the writes in a thread, a bounded number of batches ahead.

The bound is what keeps memory flat in the number of keys: however fast SCAN and the
pipelined reads are, at most ``depth`` batches wait for the database.
"""

import threading
import time

import pytest

from conversations.management.legacy_run import _read_ahead


def _batches(produced: list[int], count: int):
    for n in range(count):
        produced.append(n)
        yield [n]


def test_the_reader_stays_at_most_depth_batches_ahead():
    produced: list[int] = []
    consumed = 0
    ahead = []
    for batch in _read_ahead(_batches(produced, 50), depth=2):
        time.sleep(0.01)  # a slow writer: the reader fills the queue meanwhile
        consumed += 1
        ahead.append(len(produced) - consumed)
        assert batch == [consumed - 1]
    assert consumed == 50
    # The queue's two, and one more the reader holds while it waits to put it.
    assert max(ahead) <= 3
    assert max(ahead) >= 2, "the reader must actually run ahead"


def test_the_reader_overlaps_the_writer():
    def slow_batches():
        for n in range(6):
            time.sleep(0.1)  # reading a batch
            yield [n]

    started = time.perf_counter()
    for _ in _read_ahead(slow_batches(), depth=2):
        time.sleep(0.1)  # writing it
    elapsed = time.perf_counter() - started
    # Serial would take 12 steps of 0.1 s; overlapped, about 7.
    assert elapsed < 1.0


def test_an_error_in_the_reader_is_raised_in_the_writers_thread():
    def failing():
        yield [1]
        raise ConnectionError("legacy Redis went away")

    with pytest.raises(ConnectionError, match="went away"):
        for _ in _read_ahead(failing(), depth=2):
            pass


def test_a_writer_that_stops_early_stops_the_reader():
    produced: list[int] = []
    before = threading.active_count()
    for batch in _read_ahead(_batches(produced, 10_000), depth=2):
        if batch == [3]:
            break
    assert threading.active_count() == before
    assert len(produced) < 10
