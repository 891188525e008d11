"""A small deterministic YAML writer for the subset Compose files need.

Why not PyYAML's dumper: its YAML 1.1 resolver leaves strings such as ``1e3`` unquoted,
which Compose's YAML 1.2 parser reads as a number, and it is slow for large projects.
Here a string is written plain only when every YAML parser must read it back as that same
string; otherwise it is double-quoted. Multi-line text becomes a literal block. Mappings
keep their insertion order: callers order keys.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_PLAIN = re.compile(r"(?:\.{1,2}/|-?[A-Za-z_/])[A-Za-z0-9_./@+-]*(?::[A-Za-z0-9_./@+-]+)*")
#: Plain-looking text some YAML readers take for a number (ruamel reads ``-_1`` as -1).
_NUMBER_LIKE = re.compile(r"-_[0-9_.:]*")
_WORDS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"])
# Characters YAML does not allow raw inside a double-quoted scalar.
# Line breaks other than \n (NEL, U+2028/9) would be folded: escape them too.
_NOT_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_BLOCK_SAFE = re.compile("[^\t\r\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]*", re.S)


@dataclass(frozen=True)
class Anchor:
    """``&name value``: a value written once and referred to by ``Alias(name)``."""

    name: str
    value: str


@dataclass(frozen=True)
class Alias:
    """``*name``: the value of the ``Anchor`` of that name."""

    name: str


Data = Mapping[str, "Data"] | Sequence["Data"] | str | int | float | bool | Anchor | Alias | None


def dump(data: Mapping[str, Data]) -> str:
    lines: list[str] = []
    try:
        _mapping(data, 0, lines)
    finally:
        _string.cache_clear()  # a document's strings, kept while it is written
    return "\n".join(lines) + "\n"


def scalar(value: str | int | float | bool | None) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


@functools.cache
def _string(value: str) -> str:
    # Cached while a document is written: names, keys and conditions repeat across services.
    # Unbounded, as the document holds them anyway: a bounded cache that a large project
    # overflows made writing it slower per service than writing a small one.
    if _PLAIN.fullmatch(value) and value.lower() not in _WORDS and not _NUMBER_LIKE.fullmatch(value):
        return value
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _literal(value: str) -> bool:
    """Multi-line text that reads back exactly as a literal block (``|`` or ``|-``)."""
    if "\n" not in value.rstrip("\n") or value.endswith("\n\n") or value.startswith((" ", "\n")):
        return False
    if not _BLOCK_SAFE.fullmatch(value):
        return False
    return not any(line != line.rstrip(" ") for line in value.split("\n"))


def _value(value: Data, indent: int, lines: list[str], prefix: str) -> None:
    """Write ``prefix`` (a key or a dash) followed by value, at ``indent``."""
    pad = " " * indent
    if isinstance(value, str):  # the common case first
        if "\n" in value and _literal(value):
            lines.append(f"{pad}{prefix} |{'' if value.endswith(chr(10)) else '-'}")
            inner = " " * (indent + 2)
            lines.extend(f"{inner}{line}" if line else "" for line in value.rstrip("\n").split("\n"))
        else:
            lines.append(f"{pad}{prefix} {_string(value)}")
    elif isinstance(value, dict):
        if value:
            lines.append(f"{pad}{prefix}")
            _mapping(value, indent + 2, lines)
        else:
            lines.append(f"{pad}{prefix} {{}}")
    elif isinstance(value, list | tuple):
        if value:
            lines.append(f"{pad}{prefix}")
            _sequence(value, indent + 2, lines)
        else:
            lines.append(f"{pad}{prefix} []")
    elif isinstance(value, Alias):
        lines.append(f"{pad}{prefix} *{value.name}")
    elif isinstance(value, Anchor):
        _value(value.value, indent, lines, f"{prefix} &{value.name}")
    else:
        lines.append(f"{pad}{prefix} {scalar(value)}")  # type: ignore[arg-type]


def _mapping(data: Mapping[str, Data], indent: int, lines: list[str]) -> None:
    for key, value in data.items():
        _value(value, indent, lines, f"{_string(key)}:")


def _sequence(items: Sequence[Data], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict) and item:
            first = len(lines)
            _mapping(item, indent + 2, lines)
            lines[first] = f"{pad}- {lines[first][indent + 2 :]}"
        else:
            _value(item, indent, lines, "-")
