"""Python source for main.py, laid out as ``ruff format`` lays it out.

Values are plain data (str, int, float, bool, None, list, dict) or :class:`Call` and
:class:`Name`. A value is written on one line when it fits in ``WIDTH``; otherwise its
outermost brackets are exploded, one element per line with a trailing comma (the "magic
trailing comma" that ``ruff format`` keeps), and each element is laid out the same way.
So the result is stable under ``ruff format`` at its default settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: ruff's (and black's) default line length.
WIDTH = 88
INDENT = "    "


@dataclass(frozen=True)
class Name:
    """A bare name in the source: a variable or a constant."""

    text: str


@dataclass(frozen=True)
class Call:
    """``func(*args, **kwargs)``, keyword arguments in the order given."""

    func: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = field(default=())


@dataclass(frozen=True)
class Plus:
    """``a + b + ...``: text joined from strings and calls."""

    parts: tuple[Any, ...]


def string(text: str) -> str:
    """A string literal as ruff writes it: double quotes unless that needs more escapes."""
    quote = "'" if '"' in text and "'" not in text else '"'
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + quote)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def flat(value: Any) -> str:
    """``value`` on one line."""
    if isinstance(value, Name):
        return value.text
    if isinstance(value, Plus):
        return " + ".join(flat(p) for p in value.parts)
    if isinstance(value, Call):
        parts = [flat(a) for a in value.args] + [f"{k}={flat(v)}" for k, v in value.kwargs]
        return f"{value.func}({', '.join(parts)})"
    if isinstance(value, str):
        return string(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(flat(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(flat(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{flat(k)}: {flat(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} into main.py")


def lines(value: Any, prefix: str, suffix: str, depth: int, *, explode: bool = False) -> list[str]:
    """``prefix + value + suffix`` at ``depth`` indents: one line when it fits (and
    ``explode`` is not asked), else the value's brackets exploded."""
    pad = INDENT * depth
    one = f"{pad}{prefix}{flat(value)}{suffix}"
    if isinstance(value, Plus) and len(one) > WIDTH and depth > 0:  # inside brackets, as in main.py
        return _operands(value, prefix, suffix, depth)
    parts = _parts(value)
    if parts is None or (not explode and len(one) <= WIDTH) or not parts[1]:
        return [one]
    opening, elements, closing = parts
    out = [f"{pad}{prefix}{opening}"]
    for element_prefix, element in elements:
        out.extend(lines(element, element_prefix, ",", depth + 1))
    out.append(f"{pad}{closing}{suffix}")
    return out


def _operands(value: Plus, prefix: str, suffix: str, depth: int) -> list[str]:
    """``a + b`` that does not fit: one operand a line, each after the first led by ``+``."""
    out: list[str] = []
    last = len(value.parts) - 1
    for i, part in enumerate(value.parts):
        out.extend(lines(part, prefix if i == 0 else "+ ", suffix if i == last else "", depth))
    return out


def _parts(value: Any) -> tuple[str, list[tuple[str, Any]], str] | None:
    """Opening bracket, (prefix, element) pairs and closing bracket; None for an atom."""
    if isinstance(value, Call):
        elements = [("", a) for a in value.args] + [(f"{k}=", v) for k, v in value.kwargs]
        return f"{value.func}(", elements, ")"
    if isinstance(value, list):
        return "[", [("", v) for v in value], "]"
    if isinstance(value, dict):
        return "{", [(f"{flat(k)}: ", v) for k, v in value.items()], "}"
    return None


def statement(target: str | None, value: Any, *, explode: bool = False) -> str:
    """``target = value`` (or the bare expression) as lines of source."""
    prefix = f"{target} = " if target else ""
    return "\n".join(lines(value, prefix, "", 0, explode=explode)) + "\n"
