"""A virtual clock with cooperative tasks, so an hour of pacing runs in seconds.

Each task is a thread, but only one runs at a time: a task runs until it sleeps (``VirtualTime.sleep``)
or ends, then the scheduler wakes the task with the earliest wake time and moves the clock there.
Concurrent senders therefore interleave exactly where real ones would wait (their pacing sleeps),
deterministically, and the code in between runs unchanged and uninterrupted (moto is not thread-safe,
and here it never has to be).

``sleep`` called outside any task (the main thread) just moves the clock on.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


class _Task:
    def __init__(self, name: str, container: str) -> None:
        self.name = name
        self.container = container
        self.go = threading.Event()
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None


class VirtualTime:
    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._heap: list[tuple[float, int, _Task]] = []
        self._seq = itertools.count()
        self._local = threading.local()
        self._yielded = threading.Event()
        self.slept = 0.0  # total seconds tasks asked to sleep, for the report

    # --- the clock ----------------------------------------------------------------------------------
    def time(self) -> float:
        return self._now

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self._now, UTC)

    def set(self, at: float) -> None:
        """Move the clock (never backwards); only between task runs, from the main thread."""
        self._now = max(self._now, float(at))

    def sleep(self, seconds: float) -> None:
        seconds = max(0.0, float(seconds))
        self.slept += seconds
        task = self.current()
        if task is None:
            self._now += seconds
            return
        heapq.heappush(self._heap, (self._now + seconds, next(self._seq), task))
        task.go.clear()
        self._yielded.set()
        task.go.wait()

    # --- tasks --------------------------------------------------------------------------------------
    def current(self) -> _Task | None:
        return getattr(self._local, "task", None)

    def container(self) -> str:
        task = self.current()
        return task.container if task is not None else getattr(self._local, "container", "main")

    def set_main_container(self, name: str) -> None:
        self._local.container = name

    def spawn(self, name: str, body: Callable[[], Any], *, container: str, at: float | None = None) -> None:
        task = _Task(name, container)

        def run() -> None:
            self._local.task = task
            task.go.wait()
            try:
                body()
            except BaseException as exc:  # handed to run() in the main thread
                task.error = exc
            finally:
                self._yielded.set()

        task.thread = threading.Thread(target=run, name=name, daemon=True)
        task.thread.start()
        heapq.heappush(self._heap, (self._now if at is None else at, next(self._seq), task))

    def run(self) -> None:
        """Run every task to its end, in virtual time order; re-raises the first task error."""
        while self._heap:
            wake, _seq, task = heapq.heappop(self._heap)
            self._now = max(self._now, wake)
            self._yielded.clear()
            task.go.set()
            self._yielded.wait()
            if task.error is not None:
                error, task.error = task.error, None
                raise error
