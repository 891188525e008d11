"""Render the migrator drivers' templates, without loading jinja2 when they only substitute.

The driver templates (``templates/*.sh.j2``) use jinja2's substitution alone: ``{{ name }}``,
``{{ name | filter }}``, and ``{{-`` to drop the whitespace before. Importing jinja2 and
compiling a template took a tenth of `clockwork build`'s start-up, so such a template is
rendered here, by jinja2's rules for it: a name's value through the filter when there is one,
then ``str()``; ``{{-`` removes all whitespace before the tag. A template holding anything
else (a block, a comment, an expression, ``-}}``, a carriage return jinja2 would rewrite) or
naming a value it is not given is rendered by jinja2 itself, in the environment the drivers
always had, so its output and errors are jinja2's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: Where jinja2 sees a tag of any kind (its default delimiters).
_ANY_TAG = re.compile(r"\{[{%#]")
#: The substitution rendered here: ``{{ name }}``, ``{{ name | filter }}``, ``{{- ...``.
_SUBSTITUTION = re.compile(r"\{\{(-?)[ \t]*([A-Za-z_]\w*)[ \t]*(?:\|[ \t]*([A-Za-z_]\w*)[ \t]*)?\}\}", re.ASCII)

#: Words jinja2 reads as literals or operators, never as names.
_LITERALS = frozenset({"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else"})

Filter = Callable[[Any], object]


def render(folder: Path, name: str, context: Mapping[str, object], filters: Mapping[str, Filter]) -> str:
    """The template ``folder/name`` rendered with ``context``, as jinja2 renders it."""
    source = (folder / name).read_text(encoding="utf-8")
    rendered = substitute(source, context, filters)
    if rendered is not None:
        return rendered
    return _jinja2(folder, name, context, filters)


def substitute(source: str, context: Mapping[str, object], filters: Mapping[str, Filter]) -> str | None:
    """``source`` with its substitutions done, or None when it needs jinja2."""
    if "\r" in source:
        return None
    parts: list[str] = []
    end = 0
    while (tag := _ANY_TAG.search(source, end)) is not None:
        match = _SUBSTITUTION.match(source, tag.start())
        if match is None:
            return None
        trim, key, filter_name = match.groups()
        if key not in context or key in _LITERALS or (filter_name is not None and filter_name not in filters):
            return None
        value = context[key] if filter_name is None else filters[filter_name](context[key])
        text = source[end : tag.start()]
        parts += [text.rstrip() if trim else text, str(value)]
        end = match.end()
    parts.append(source[end:])
    return "".join(parts)


def _jinja2(folder: Path, name: str, context: Mapping[str, object], filters: Mapping[str, Filter]) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(filters)
    return env.get_template(name).render(**context)
