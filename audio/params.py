"""Settings of the signal stages, with each allowed range declared once, beside
its field: ``hangover_ms: int = ranged(300, 20, 5000)``.

A settings class is a frozen dataclass that inherits :class:`Ranged`; its
``section`` names the ``[section]`` of the config file, so a value out of range
reads ``vad hangover_ms must be between 20 and 5000``.  Rules that tie two
fields together go in the class's own :meth:`Ranged.check`.
"""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any, ClassVar


def ranged(default: Any, low: float, high: float | None = None) -> Any:
    """A field whose value must lie in ``[low, high]`` (``high=None``: no upper end)."""
    return field(default=default, metadata={"range": (low, high)})


def _num(x: float) -> str:
    return f"{x:g}"


class Ranged:
    """Checks every :func:`ranged` field after ``__init__``, then :meth:`check`."""

    section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            bounds = f.metadata.get("range")
            if bounds is None:
                continue
            low, high = bounds
            value = getattr(self, f.name)
            if high is None and not value >= low:
                raise ValueError(f"{self.section} {f.name} must be at least {_num(low)}")
            if high is not None and not low <= value <= high:
                raise ValueError(f"{self.section} {f.name} must be between {_num(low)} "
                                 f"and {_num(high)}")
        self.check()

    def check(self) -> None:
        """Rules between fields; raise ValueError with the setting's name."""
