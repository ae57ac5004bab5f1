"""Server-side batching: concurrent compatible calls are merged, answers split back
exactly, and one bad request never fails its neighbours."""
import threading
import time

import numpy as np
import pytest

from serving.batching import Batcher


class Doubler:
    """A batched function that records the batch sizes it was called with and
    rejects negative inputs (as the model rejects bad requests)."""

    def __init__(self, delay=0.05):
        self.calls = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, inputs):
        with self.lock:
            self.calls.append(len(inputs["x"]))
        time.sleep(self.delay)
        if (inputs["x"] < 0).any():
            raise ValueError(f"negative input {inputs['x'][inputs['x'] < 0].tolist()}")
        return {"y": inputs["x"] * 2, "row_sum": inputs["x"].sum(axis=1)}


def _concurrently(batcher, fn, inputs_list, key="k"):
    results = [None] * len(inputs_list)

    def call(i):
        try:
            results[i] = batcher.run(key, fn, inputs_list[i])
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs_list))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_calls_are_merged_and_split_back():
    batcher, fn = Batcher(max_batch_size=16, timeout_seconds=0.02, num_threads=1), Doubler()
    inputs = [{"x": np.full((1 + i % 2, 3), i, dtype=np.int64)} for i in range(10)]
    try:
        results = _concurrently(batcher, fn, inputs)
    finally:
        batcher.stop()
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], inputs[i]["x"] * 2)
        np.testing.assert_array_equal(result["row_sum"], inputs[i]["x"].sum(axis=1))
    assert len(fn.calls) < len(inputs), fn.calls
    assert max(fn.calls) <= 16 and sum(fn.calls) == sum(len(x["x"]) for x in inputs)


def test_a_failing_request_gets_its_own_error_and_its_neighbours_their_answers():
    batcher, fn = Batcher(max_batch_size=16, timeout_seconds=0.02, num_threads=1), Doubler(delay=0.01)
    inputs = [{"x": np.array([[i, i]])} for i in range(6)] + [{"x": np.array([[-1, 5]])}]
    try:
        results = _concurrently(batcher, fn, inputs)
    finally:
        batcher.stop()
    assert isinstance(results[-1], ValueError) and "-1" in str(results[-1])
    for i in range(6):
        np.testing.assert_array_equal(results[i]["y"], [[2 * i, 2 * i]])


def test_only_same_key_and_trailing_shape_merge():
    batcher, fn = Batcher(max_batch_size=16, timeout_seconds=0.05, num_threads=1), Doubler(delay=0.0)
    inputs = [{"x": np.ones((1, 3))}, {"x": np.ones((1, 4))}, {"x": np.ones((1, 3))}]
    try:
        results = [None] * 3
        threads = [
            threading.Thread(target=lambda i=i: results.__setitem__(i, batcher.run(("m", i == 2), fn, inputs[i])))
            for i in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        batcher.stop()
    assert sorted(fn.calls) == [1, 1, 1]  # different trailing shapes or keys never merge
    assert [r["y"].shape for r in results] == [(1, 3), (1, 4), (1, 3)]


def test_a_stopped_batcher_refuses_new_work():
    batcher = Batcher(num_threads=1)
    batcher.stop()
    with pytest.raises(RuntimeError):
        batcher.run("k", Doubler(), {"x": np.ones((1, 1))})


def test_a_request_whose_deadline_passes_in_the_queue_is_not_run():
    batcher, fn = Batcher(max_batch_size=1, timeout_seconds=0.0, num_threads=1), Doubler(delay=0.3)
    try:
        busy = threading.Thread(target=batcher.run, args=("k", fn, {"x": np.ones((1, 1))}))
        busy.start()
        time.sleep(0.05)  # the only worker is busy for 0.3 s
        with pytest.raises(TimeoutError):
            batcher.run("k", fn, {"x": np.full((1, 1), 5)}, deadline=time.monotonic() + 0.1)
        busy.join()
    finally:
        batcher.stop()
    assert fn.calls == [1], "the expired request must not reach the model"


def test_a_merged_batch_that_fails_is_counted_and_logged_as_a_fallback(caplog):
    from serving.metrics import ServerMetrics

    metrics = ServerMetrics()
    batcher, fn = Batcher(max_batch_size=16, timeout_seconds=0.02, num_threads=1, metrics=metrics), Doubler(delay=0.5)
    try:
        with caplog.at_level("WARNING", logger="bertrec.serving"):
            # The only batch slot is busy for 0.5 s (ample on a loaded machine): the next requests queue and are merged.
            busy = threading.Thread(target=batcher.run, args=("k", fn, {"x": np.ones((1, 2))}))
            busy.start()
            time.sleep(0.02)
            queued = [{"x": np.array([[i, i]])} for i in range(4)] + [{"x": np.array([[-1, 5]])}]
            results = _concurrently(batcher, fn, queued)
            busy.join()
    finally:
        batcher.stop()
    assert fn.calls == [1, 5, 1, 1, 1, 1, 1], fn.calls  # the merged batch, then each request alone
    assert isinstance(results[-1], ValueError) and all(isinstance(r, dict) for r in results[:-1])
    value = metrics.registry.get_sample_value
    assert value("bertrec_serving_batch_fallback_total") == 1
    (warning,) = [r.getMessage() for r in caplog.records if "re-running them one by one" in r.getMessage()]
    assert "batch of 5 requests (5 rows) failed" in warning and "ValueError: negative input [-1]" in warning
    # Every model call is counted with its rows: the first, the merged one and the re-runs.
    assert value(":tensorflow:serving:batching_session:wrapped_run_count_total") == 7
    assert value(":tensorflow:serving:batching_session:processed_batch_size_sum") == 11
    assert value(":tensorflow:serving:batching_session:processed_batch_size_bucket", {"le": "4.0"}) == 6
    assert value(":tensorflow:serving:batching_session:input_batch_size_count") == 6


def test_no_fallback_is_counted_when_every_merged_batch_succeeds():
    from serving.metrics import ServerMetrics

    metrics = ServerMetrics()
    batcher, fn = Batcher(max_batch_size=16, timeout_seconds=0.02, num_threads=1, metrics=metrics), Doubler()
    try:
        _concurrently(batcher, fn, [{"x": np.full((1, 3), i)} for i in range(8)])
    finally:
        batcher.stop()
    assert max(fn.calls) > 1, "the test needs a merged batch"
    assert metrics.registry.get_sample_value("bertrec_serving_batch_fallback_total") == 0
