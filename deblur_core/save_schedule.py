"""When a long run saves its state: every N units of work and/or every M minutes (both papers' checkpoints)."""

from __future__ import annotations

import time


class SaveSchedule:
    """Decides when to save: after every ``every_n`` counted units of work and/or once ``every_minutes`` minutes
    passed since the last save (or :meth:`restart`).

    Args:
        every_n: save when the count is a multiple of this (``None``: not by count).
        every_minutes: save when this many minutes passed (``None``: not by time).
        count_option, minutes_option: the options' names for the error messages, with ``none``, the word for
            "no value" where they are set (``"None"`` in Python, ``"null"`` in YAML).

    Example:
        >>> schedule = SaveSchedule(every_n=3, every_minutes=None)
        >>> [schedule.due(n) for n in range(1, 7)]
        [False, False, True, False, False, True]
    """

    def __init__(
        self,
        every_n: int | None,
        every_minutes: float | None,
        count_option: str = "every_n",
        minutes_option: str = "every_minutes",
        none: str = "None",
    ) -> None:
        if every_n is not None and every_n < 1:
            raise ValueError(f"{count_option} must be >= 1 or {none}, got {every_n}")
        if every_minutes is not None and every_minutes <= 0:
            raise ValueError(f"{minutes_option} must be > 0 or {none}, got {every_minutes}")
        self.every_n = every_n
        self.every_minutes = every_minutes
        self._last_save = time.monotonic()

    @property
    def active(self) -> bool:
        """Whether anything can ever be due."""
        return self.every_n is not None or self.every_minutes is not None

    def restart(self) -> None:
        """Count the minutes from now (a run or a piece of work starts)."""
        self._last_save = time.monotonic()

    def due(self, count: int) -> bool:
        """Whether to save after ``count`` units of work."""
        by_count = self.every_n is not None and count % self.every_n == 0
        by_time = self.every_minutes is not None and time.monotonic() - self._last_save >= 60 * self.every_minutes
        return by_count or by_time

    def saved(self) -> None:
        """A save happened now."""
        self._last_save = time.monotonic()
