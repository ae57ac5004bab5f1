"""Server-side batching: concurrent calls of one signature become one model call.

What TF Serving's ``--enable_batching`` does, for the local server: requests
for the same version and signature whose inputs agree in every dimension but
the first are concatenated along it (up to ``max_batch_size`` rows), run once,
and the outputs are split back. A request that finds the model idle runs at
once; while a batch runs, the next one gathers requests for at most
``timeout_seconds`` after its first; ``num_threads`` batches run at a time,
oldest first, which keeps latency under load even. BERT's cost
per row falls with the batch (fewer op dispatches, larger matrix products, one
pass over the catalogue embeddings for the whole batch).

A merged batch that fails is re-run request by request, so one bad request
gets its own error and never fails its neighbours; each such fallback is logged
and counted (``bertrec_serving_batch_fallback_total``), since it costs a model
call per request.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable, Dict, Hashable, List, Optional

import numpy as np

if TYPE_CHECKING:
    from serving.metrics import ServerMetrics

Arrays = Dict[str, np.ndarray]
log = logging.getLogger("bertrec.serving")


class _Task:
    __slots__ = ("key", "fn", "inputs", "rows", "shape_key", "created", "deadline", "done", "outputs", "error")

    def __init__(self, key: Hashable, fn: Callable[[Arrays], Arrays], inputs: Arrays, deadline: Optional[float]):
        self.key = key
        self.deadline = deadline
        self.fn = fn
        self.inputs = inputs
        shapes = {name: value.shape for name, value in inputs.items()}
        leading = {shape[0] if shape else None for shape in shapes.values()}
        # Mergeable only when every input is batched along one shared first dimension.
        self.rows = leading.pop() if len(leading) == 1 and None not in leading else None
        self.shape_key = tuple(sorted((name, shape[1:]) for name, shape in shapes.items()))
        self.created = time.monotonic()
        self.done = threading.Event()
        self.outputs: Optional[Arrays] = None
        self.error: Optional[BaseException] = None

    def compatible(self, other: "_Task") -> bool:
        return self.key == other.key and self.shape_key == other.shape_key and None not in (self.rows, other.rows)


class Batcher:
    """Runs ``fn(inputs)`` calls, merging concurrent compatible ones."""

    def __init__(
        self,
        max_batch_size: int = 16,
        timeout_seconds: float = 0.002,
        num_threads: int = 2,
        metrics: Optional["ServerMetrics"] = None,
    ):
        self._metrics = metrics  # batch sizes, model calls and fallbacks are reported here
        self._max_rows = max_batch_size
        self._timeout = timeout_seconds
        self._cond = threading.Condition()
        self._pending: List[_Task] = []
        self._running = 0  # batches being run now
        self._stopped = False
        self._workers = [threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
                         for i in range(num_threads)]
        for worker in self._workers:
            worker.start()

    def run(
        self, key: Hashable, fn: Callable[[Arrays], Arrays], inputs: Arrays, deadline: Optional[float] = None,
    ) -> Arrays:
        """``fn(inputs)``, possibly as part of a larger batch; raises what ``fn`` raises,
        or TimeoutError when ``deadline`` (time.monotonic()) passes before it runs."""
        task = _Task(key, fn, inputs, deadline)
        with self._cond:
            if self._stopped:
                raise RuntimeError("the batcher is stopped")
            if self._metrics is not None and task.rows is not None:
                self._metrics.request_batched(task.rows)
            # An idle model runs the request at once, in the caller's thread
            # (no hand-off to a worker); it still counts against num_threads.
            inline = not self._pending and self._running < len(self._workers)
            if inline:
                self._running += 1
            else:
                self._pending.append(task)
                self._cond.notify_all()
        if inline:
            try:
                self._run_alone(task)
            finally:
                self._finished()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def stop(self) -> None:
        """Finishes what is queued, then ends the workers."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join()

    # -- workers -----------------------------------------------------------------
    def _take_batch(self) -> Optional[List[_Task]]:
        """Waits for work; returns the oldest request with what can join it."""
        with self._cond:
            while True:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if not self._pending:
                    return None
                self._expire(time.monotonic())
                if not self._pending:
                    continue
                head = self._pending[0]
                batch, rows = [], 0
                for task in self._pending:
                    if task is head or (task.compatible(head) and rows + task.rows <= self._max_rows):
                        batch.append(task)
                        rows += task.rows or 0
                wait = head.created + self._timeout - time.monotonic()
                # Waiting for company pays only while the model is busy anyway.
                idle = self._running == 0
                if self._running >= len(self._workers):
                    self._cond.wait()  # every slot is running a batch: gather until one frees up
                    continue
                if idle or head.rows is None or rows >= self._max_rows or wait <= 0 or self._stopped:
                    for task in batch:
                        self._pending.remove(task)
                    self._running += 1
                    return batch
                self._cond.wait(wait)  # more may join; another worker may take the head meanwhile

    def _work(self) -> None:
        while (batch := self._take_batch()) is not None:
            try:
                self._run_batch(batch)
            finally:
                self._finished()

    def _finished(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def _run_batch(self, batch: List[_Task]) -> None:
        if len(batch) == 1:
            self._run_alone(batch[0])
            return
        total = sum(t.rows for t in batch)
        try:
            merged = {name: np.concatenate([t.inputs[name] for t in batch]) for name in batch[0].inputs}
            self._count_run(total)
            outputs = batch[0].fn(merged)
            if any(value.shape[:1] != (total,) for value in outputs.values()):
                raise ValueError("an output is not batched along the first dimension")
        except Exception as e:  # attribute the failure: each request on its own
            log.warning(
                "a merged batch of %d requests (%d rows) failed, re-running them one by one: %s: %s",
                len(batch), total, type(e).__name__, str(e).split("\n")[0][:300],
            )
            if self._metrics is not None:
                self._metrics.batch_fell_back()
            for task in batch:
                self._run_alone(task)
            return
        start = 0
        for task in batch:
            task.outputs = {name: value[start : start + task.rows] for name, value in outputs.items()}
            start += task.rows
            task.done.set()

    def _expire(self, now: float) -> None:
        """Answers queued tasks whose caller's deadline has passed, without running them."""
        for task in [t for t in self._pending if t.deadline is not None and t.deadline <= now]:
            self._pending.remove(task)
            task.error = TimeoutError("the deadline passed while the request waited for the model")
            task.done.set()

    def _count_run(self, rows: Optional[int]) -> None:
        if self._metrics is not None:
            self._metrics.batch_run(rows)

    def _run_alone(self, task: _Task) -> None:
        self._count_run(task.rows)
        try:
            task.outputs = task.fn(task.inputs)
        except BaseException as e:  # handed to the caller's thread
            task.error = e
        task.done.set()
