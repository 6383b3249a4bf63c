"""The store interface: what the controller, `retry` and the read-only tools ask of a sweep's
journal of events, whichever kind keeps it (`snakesweep.record.stores` picks one)."""

from __future__ import annotations

import contextlib
from typing import Protocol


class Store(Protocol):
    def locked(
        self, blocking: bool = True, urgent: bool = False
    ) -> contextlib.AbstractContextManager[bool]:
        """Hold the sweep's lock: a read, a decision and its appends are one step. Yields True,
        or with `blocking=False` False at once if another taker holds it."""

    def read_from(self, cursor: int) -> tuple[list[dict], int]:
        """The intact events after `cursor` (0: from the start), and the cursor after them."""

    def append(self, *events: dict, durable: bool = True) -> int:
        """Append `events` inside `locked()`; the cursor after them."""

    def wait(self, cursor: int, seconds: float) -> bool:
        """Sleep until there may be events after `cursor`, or `seconds` pass; True if news."""

    def read(self) -> list[dict]:
        """Every intact event, in order."""

    def sync(self) -> None:
        """Put every appended event on durable storage now."""


class StoreLost(Exception):
    """The store's server went away in the middle of a step: nothing of the step was kept
    (its transaction was rolled back); read the store again and take the step anew."""
