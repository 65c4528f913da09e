"""Read ahead of the consumer on a thread, so scanning overlaps applying (or not: ``Inline``)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


class Prefetch(Iterator[T]):
    """Iterate ``source`` on a daemon thread, at most ``depth`` items ahead.

    Errors raised by the source are raised again by ``__next__`` in the consumer's thread.
    ``close()`` stops the reader at its next item (it never blocks forever on a full queue).
    """

    def __init__(self, source: Iterable[T], depth: int = 2, name: str = "murmur-prefetch") -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterable[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, who decides
            self._put(_Failure(exc))

    def __next__(self) -> T:
        item = self.next_within(None)
        assert item is not None
        return item

    def next_within(self, timeout: float | None) -> T | None:
        """The next item, or ``None`` if none came within ``timeout`` seconds; StopIteration at the end."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            raise StopIteration
        if isinstance(item, _Failure):
            raise item.exc
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._closed.set()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Inline(Iterator[T]):
    """``Prefetch``'s interface without the thread: ``source`` is read when the consumer asks.

    For a local file while a fold helper folds half its blocks: the main thread then has time to
    read, and a reading thread would only compete with it for the GIL (measured in
    ``benchmarks/README.md``).
    """

    def __init__(self, source: Iterable[T]) -> None:
        self._source = iter(source)

    def __next__(self) -> T:
        return next(self._source)

    def next_within(self, timeout: float | None) -> T | None:
        return next(self._source)  # a local read does not keep the consumer waiting long

    def close(self) -> None:
        pass

    def ahead(self, name: str) -> Prefetch[T]:
        """The rest of the source, read ahead on a thread from now on (the helper left)."""
        return Prefetch(self._source, name=name)
