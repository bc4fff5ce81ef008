"""Progress lines for compile steps that turn out slow: a step announces itself only once it
has run for `after` seconds, so a quick compile stays silent and a long schedule search or
firmware build says what it is doing."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

Progress = Callable[[str], None]
SLOW_STEP_SECONDS = 1.0


@contextmanager
def slow_step(progress: Progress | None, message: str, after: float = SLOW_STEP_SECONDS) -> Iterator[None]:
    """Run the with-block; if it is still running after `after` s, call progress(message) once."""
    if progress is None:
        yield
        return
    timer = threading.Timer(after, progress, (message,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
