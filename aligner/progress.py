"""Progress bars on standard error: counts and ETA for long steps, silent when not a TTY."""

from __future__ import annotations

import sys
import time
from types import TracebackType

import click


class Progress:
    """A bar over `total` units (bytes of input, say) that also shows a count of items.
    With `enabled` False (or stderr not a terminal) it only counts."""

    def __init__(self, label: str, total: int | None, enabled: bool, unit: str = "docs") -> None:
        self.label = label
        self.unit = unit
        self.items = 0
        self.started = time.monotonic()
        self._bar = None
        if enabled and sys.stderr.isatty():
            self._bar = click.progressbar(
                length=total or 0,
                label=label,
                file=sys.stderr,
                show_eta=bool(total),
                show_percent=bool(total),
                item_show_func=lambda _: f"{self.items:,} {self.unit}",
            )
            self._bar.__enter__()

    def advance(self, units: int, items: int = 0) -> None:
        self.items += items
        if self._bar is not None:
            self._bar.update(units, None)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
