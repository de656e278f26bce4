"""The future that ``recv()`` waits on, able to resume its task at once.

A plain future resumes the task awaiting it through ``loop.call_soon``: the
message that woke it is handled one loop iteration later, after one more
``epoll_wait`` (timeout 0) and one more pass of the loop's Python code.
For request/response traffic that iteration is a sizeable part of a round
trip (docs/ASYNCIO.md counts it). :meth:`ResumingWaiter.resume` instead
runs the task's next step right away, inside the read callback, when that
is safe: no task of the loop is running (asyncio refuses to enter a task
inside another). Otherwise, and for cancellation, it falls back to the
loop, as a plain future does.

The task's step runs exactly as the loop would run it (in the task's
context, through the task's own wakeup method), so the coroutine cannot
tell the difference except by timing: it runs before the loop's other
ready callbacks instead of after them.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Callable, Optional

_current_task = asyncio.current_task
_future_set_result = asyncio.Future.set_result
_Callback = Callable[["asyncio.Future[None]"], object]


class ResumingWaiter(asyncio.Future):  # type: ignore[type-arg]
    """A ``Future[None]`` whose first done-callback (the awaiting task's
    wakeup) it keeps for itself, to call directly in :meth:`resume`."""

    # Class defaults instead of an __init__: a Python-level __init__ (and
    # its super() call) would double the cost of making one per wait.
    _wakeup: Optional[_Callback] = None
    _wakeup_context: Optional[contextvars.Context] = None

    def add_done_callback(  # type: ignore[override]
        self, fn: _Callback, *, context: Optional[contextvars.Context] = None
    ) -> None:
        if self._wakeup is None and not self.done():
            self._wakeup = fn
            self._wakeup_context = context
        else:
            super().add_done_callback(fn, context=context)

    def remove_done_callback(self, fn: _Callback) -> int:  # type: ignore[override]
        removed = super().remove_done_callback(fn)
        if self._wakeup is not None and self._wakeup == fn:
            self._wakeup = self._wakeup_context = None
            removed += 1
        return removed

    def resume(self) -> None:
        """Complete with None and run the waiting task's step now if safe."""
        if self.done():
            return
        _future_set_result(self, None)
        fn = self._wakeup
        if fn is None:
            return
        context = self._wakeup_context
        self._wakeup = self._wakeup_context = None
        loop = self.get_loop()
        if _current_task(loop) is not None:
            loop.call_soon(fn, self, context=context)
        elif context is not None:
            context.run(fn, self)
        else:
            fn(self)

    def set_result(self, result: Any) -> None:
        """Complete, resuming the task through the loop (as a plain future)."""
        super().set_result(result)
        self._schedule_wakeup()

    def set_exception(self, exception: Any) -> None:
        super().set_exception(exception)
        self._schedule_wakeup()

    def cancel(self, msg: Any = None) -> bool:
        if not super().cancel(msg=msg):
            return False
        self._schedule_wakeup()
        return True

    def _schedule_wakeup(self) -> None:
        fn = self._wakeup
        if fn is not None:
            context = self._wakeup_context
            self._wakeup = self._wakeup_context = None
            self.get_loop().call_soon(fn, self, context=context)
