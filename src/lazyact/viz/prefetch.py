"""A small background loader: one worker thread, keyed jobs, cancellable, newest demand first.

The viewer reads every window and protein row through a :class:`Prefetcher`. The window
on screen is requested first; the next and previous windows are queued behind it, so
they land in the block cache (and in the loader's few kept results) while the user looks
at the current one. Scrolling therefore finds its window ready and the render loop never
waits for a computation. A request that is no longer wanted is dropped if it has not
started and asked to stop at its next chunk boundary if it has (the chunks computed so
far stay cached).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any, Callable, Hashable, Iterable

from ._source import Cancelled

__all__ = ["Prefetcher"]


class _Job:
    __slots__ = ("future", "event")

    def __init__(self, future: Future, event: threading.Event) -> None:
        self.future = future
        self.event = event

    @property
    def usable(self) -> bool:
        """Not cancelled and not failed by cancellation."""
        f = self.future
        if f.cancelled() or self.event.is_set():
            return False
        if f.done() and isinstance(f.exception(), (Cancelled, CancelledError)):
            return False
        return True


class Prefetcher:
    """Run keyed read jobs on one background thread and keep the last few results.

    Parameters
    ----------
    keep : int
        Number of finished results kept (oldest dropped first).
    name : str
        Thread name prefix.

    Notes
    -----
    A job is ``fn(cancelled, *args)`` where ``cancelled()`` returns True once the job
    is no longer wanted; a long job checks it between pieces and raises
    :class:`~lazyact.viz._source.Cancelled`. One worker keeps the background reads
    from competing with each other (the block store parallelises each read itself).

    Examples
    --------
    >>> pf = Prefetcher()
    >>> fut = pf.submit("a", lambda cancelled, x: x * 2, 21)
    >>> fut.result(), pf.done("a"), pf.done("b")
    (42, True, False)
    >>> pf.close()
    """

    def __init__(self, keep: int = 6, name: str = "lazyact-prefetch") -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._jobs: OrderedDict[Hashable, _Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = max(1, int(keep))
        self._closed = False
        #: number of jobs started (submitted and not served from kept results)
        self.submitted = 0

    # -- jobs -------------------------------------------------------------------------
    def submit(self, key: Hashable, fn: Callable[..., Any], *args: Any) -> Future:
        """The future of job ``key``; submitted with ``fn(cancelled, *args)`` unless live."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the prefetcher is closed")
            job = self._jobs.get(key)
            if job is not None and job.usable and not (job.future.done() and job.future.exception()):
                self._jobs.move_to_end(key)
                return job.future
            event = threading.Event()
            future = self._pool.submit(self._run, fn, event, args)
            self._jobs[key] = _Job(future, event)
            self.submitted += 1
            self._trim_locked()
            return future

    @staticmethod
    def _run(fn: Callable[..., Any], event: threading.Event, args: tuple) -> Any:
        if event.is_set():
            raise Cancelled()
        return fn(event.is_set, *args)

    def get(self, key: Hashable) -> Future | None:
        """The live future of ``key`` or None."""
        with self._lock:
            job = self._jobs.get(key)
            return job.future if job is not None and job.usable else None

    def done(self, key: Hashable) -> bool:
        """Whether ``key`` finished successfully (its result is available at once)."""
        fut = self.get(key)
        return fut is not None and fut.done() and fut.exception() is None

    def cancel(self, keep: Iterable[Hashable] = ()) -> int:
        """Cancel every unfinished job not in ``keep``; returns how many were cancelled."""
        keep = set(keep)
        n = 0
        with self._lock:
            for key in list(self._jobs):
                if key in keep:
                    continue
                job = self._jobs[key]
                if job.future.done():
                    continue
                job.event.set()
                job.future.cancel()
                del self._jobs[key]
                n += 1
        return n

    def pending(self) -> list[Future]:
        """Futures of all unfinished jobs."""
        with self._lock:
            return [j.future for j in self._jobs.values() if not j.future.done()]

    def wait(self, timeout: float | None = None) -> None:
        """Wait until every unfinished job is done (cancelled ones included)."""
        for fut in self.pending():
            try:
                fut.result(timeout)
            except (Cancelled, CancelledError):
                pass

    def _trim_locked(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.future.done()]
        excess = len(self._jobs) - self._keep
        for key in finished:
            if excess <= 0:
                break
            del self._jobs[key]
            excess -= 1

    def close(self) -> None:
        """Cancel all jobs and stop the worker (does not wait for a running read)."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                job.event.set()
                job.future.cancel()
            self._jobs.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __len__(self) -> int:
        return len(self._jobs)

    def __repr__(self) -> str:
        with self._lock:
            done = sum(j.future.done() for j in self._jobs.values())
            return f"Prefetcher({len(self._jobs)} jobs, {done} done)"
