"""What an ingest reports: counts, conflicts and bad lines, each list capped at `MAX_SHOWN`."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_SHOWN = 100  # bad lines / conflicts listed in a report; the total is always given


@dataclass
class Listing:
    """A capped list of problems with the true total."""

    total: int = 0
    shown: list[dict] = field(default_factory=list)
    # A line with two problems is one bad line: totals count lines, the listing problems.
    lines: set = field(default_factory=set)

    def add(self, item: dict) -> None:
        self.total += 1
        self.lines.add(item.get("line"))
        if len(self.shown) < MAX_SHOWN:
            self.shown.append(item)

    @property
    def bad_lines(self) -> int:
        return len(self.lines)

    def as_dict(self) -> dict:
        return {"total": self.total, "bad_lines": self.bad_lines, "shown": self.shown}


@dataclass
class IngestReport:
    rows: int = 0
    inserted: int = 0
    unchanged: int = 0
    replaced: int = 0
    conflicts: Listing = field(default_factory=Listing)
    errors: Listing = field(default_factory=Listing)

    @property
    def accepted(self) -> bool:
        return self.errors.total == 0

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "rows": self.rows,
            "inserted": self.inserted,
            "unchanged": self.unchanged,
            "replaced": self.replaced,
            "conflicts": self.conflicts.as_dict(),
            "errors": self.errors.as_dict(),
        }

    def summary(self) -> str:
        if not self.accepted:
            return (
                f"rejected: {self.errors.bad_lines} bad row(s) ({self.errors.total} problem(s)) "
                f"in {self.rows} row(s), nothing written"
            )
        return (
            f"{self.rows} rows: {self.inserted} inserted, {self.unchanged} unchanged, "
            f"{self.conflicts.total} conflict(s), {self.replaced} replaced"
        )


class Rejected(Exception):
    """Raised inside the transaction so that a rejected file writes nothing."""
