"""Rows of results, the printed table and the JSON file: one shape for both."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One measurement next to its yardstick; ``met`` is None when there is no goal or no number."""

    benchmark: str
    measurement: str
    clockwork: float | None
    yardstick: float | None = None
    unit: str = "s"
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio is None and self.clockwork is not None and self.yardstick:
            self.ratio = self.clockwork / self.yardstick


def skipped(benchmark: str, measurement: str, why: str, goal: str = "") -> Row:
    return Row(benchmark, measurement, None, goal=goal, note=f"skipped: {why}")


def _number(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "bool":
        return "yes" if value else "no"
    return f"{value:g} {unit}".strip()


def _met(row: Row) -> str:
    return {True: "yes", False: "NO", None: "-"}[row.met]


HEADERS = ("benchmark", "measurement", "clockwork", "yardstick", "ratio", "goal", "met?")


def table(rows: list[Row]) -> str:
    cells = [
        (
            r.benchmark,
            r.measurement,
            _number(r.clockwork, r.unit),
            _number(r.yardstick, r.unit),
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            r.goal,
            _met(r),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(HEADERS)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    notes = [f"  [{r.benchmark}: {r.measurement}] {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def markdown(rows: list[Row]) -> str:
    """The same table as Markdown, for the README's Performance section."""
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        cells = [r.benchmark, r.measurement, _number(r.clockwork, r.unit), _number(r.yardstick, r.unit), ratio]
        out.append("| " + " | ".join([*cells, r.goal, _met(r)]) + " |")
    return "\n".join(out)


def write_json(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**meta, "rows": [asdict(r) for r in rows]}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
