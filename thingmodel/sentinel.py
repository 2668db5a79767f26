"""``ABSENT``: the one "no value here" marker, for places where ``None`` is a value."""

from __future__ import annotations

import enum
from typing import Final, Literal


class _Absent(enum.Enum):
    # An enum member: one instance, pickles as itself, and mypy narrows ``x is ABSENT``.
    ABSENT = "ABSENT"

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent.ABSENT
Absent = Literal[_Absent.ABSENT]
"""The type of :data:`ABSENT`, for annotations: ``value: Any | Absent``."""

__all__ = ["ABSENT", "Absent"]
