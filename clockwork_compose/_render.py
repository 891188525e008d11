"""`clockwork plan` for machines and pictures: the dependency graph as JSON, Mermaid or DOT.

Each format carries the same facts as the text plan: the services (name, role, what they
are), the layers they start in, and every edge with the condition the dependant waits for
and why. In the drawings an arrow runs the way the start-up flows, from a service to one
that waits for it, labelled with what it waits for. Output is deterministic: services and
edges in layer order, then by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from ._api import Step

#: Compose's spelling of each condition, for machines that want to match the file.
COMPOSE_CONDITIONS = {
    "started": "service_started",
    "healthy": "service_healthy",
    "completed successfully": "service_completed_successfully",
}


def render(fmt: str, project: str, layers: Sequence[Sequence[Step]]) -> str:
    """The plan of ``project`` in ``fmt`` (json, mermaid or dot), ending with a newline."""
    renderers: dict[str, Callable[[str, Sequence[Sequence[Step]]], str]] = {
        "json": to_json,
        "mermaid": to_mermaid,
        "dot": to_dot,
    }
    if fmt not in renderers:
        raise ValueError(f"no renderer for plan format {fmt!r}")
    return renderers[fmt](project, layers)


def _edges(layers: Sequence[Sequence[Step]]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(dependency, dependant, condition, reasons) for every edge, in the order steps come."""
    return [
        (target, step.service, condition, tuple(reasons))
        for layer in layers
        for step in layer
        for target, condition, reasons in step.waits_for
    ]


def _label(condition: str, reasons: Sequence[str]) -> str:
    return f"{condition} ({', '.join(reasons)})" if reasons else condition


# -- JSON ------------------------------------------------------------------------------------


def to_json(project: str, layers: Sequence[Sequence[Step]]) -> str:
    services = []
    for number, layer in enumerate(layers, start=1):
        for step in layer:
            services.append(
                {
                    "name": step.service,
                    "role": step.role,
                    "layer": number,
                    "note": step.note,
                    "waits_for": [
                        {
                            "service": target,
                            "condition": condition,
                            "compose_condition": COMPOSE_CONDITIONS.get(condition, condition),
                            "reasons": list(reasons),
                        }
                        for target, condition, reasons in step.waits_for
                    ],
                }
            )
    doc: dict[str, Any] = {
        "project": project,
        "layers": [[step.service for step in layer] for layer in layers],
        "services": services,
        "edges": [
            {
                "from": dependency,
                "to": dependant,
                "condition": condition,
                "compose_condition": COMPOSE_CONDITIONS.get(condition, condition),
                "reasons": list(reasons),
            }
            for dependency, dependant, condition, reasons in _edges(layers)
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


# -- Mermaid ---------------------------------------------------------------------------------

#: Node shapes by role: a database is a cylinder, a one-shot migrator a subroutine box.
_MERMAID_SHAPES = {"database": ('[("', '")]'), "migrator": ('[["', '"]]')}


def to_mermaid(project: str, layers: Sequence[Sequence[Step]]) -> str:
    ids = _mermaid_ids([step.service for layer in layers for step in layer])
    lines = ["flowchart LR", f"  %% {_one_line(project)}: clockwork plan --format mermaid"]
    for layer in layers:
        for step in layer:
            start, end = _MERMAID_SHAPES.get(step.role, ('["', '"]'))
            text = _mermaid_text(f"{step.service}<br/>{step.role}", keep_breaks=True)
            lines.append(f"  {ids[step.service]}{start}{text}{end}")
    for dependency, dependant, condition, reasons in _edges(layers):
        label = _mermaid_text(_label(condition, reasons))
        lines.append(f'  {ids[dependency]} -->|"{label}"| {ids[dependant]}')
    return "\n".join(lines) + "\n"


def _mermaid_ids(names: Sequence[str]) -> dict[str, str]:
    """Node ids: letters, digits and _ only, prefixed so no name is a keyword ("end")."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = "s_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        ids[name] = candidate
        taken.add(candidate)
    return ids


def _mermaid_text(text: str, keep_breaks: bool = False) -> str:
    """Text inside a quoted Mermaid label: entity codes for what Mermaid would read as syntax."""
    out = _one_line(text).replace("#", "#35;").replace('"', "#quot;")
    if not keep_breaks:
        out = out.replace("<", "#lt;").replace(">", "#gt;")
    return out


# -- Graphviz DOT ----------------------------------------------------------------------------

_DOT_SHAPES = {"database": "cylinder", "migrator": "component", "app": "box"}


def to_dot(project: str, layers: Sequence[Sequence[Step]]) -> str:
    lines = [
        f"digraph {_dot_string(project)} {{",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for layer in layers:
        for step in layer:
            shape = _DOT_SHAPES.get(step.role, "box")
            label = _dot_string(f"{step.service}\n{step.role}")
            lines.append(f"  {_dot_string(step.service)} [shape={shape}, label={label}];")
    for number, layer in enumerate(layers, start=1):
        members = "; ".join(_dot_string(step.service) for step in layer)
        lines.append(f"  {{ rank=same; {members}; }}  // layer {number}")
    for dependency, dependant, condition, reasons in _edges(layers):
        label = _dot_string(_label(condition, reasons))
        lines.append(f"  {_dot_string(dependency)} -> {_dot_string(dependant)} [label={label}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_string(text: str) -> str:
    """A DOT quoted string; a newline becomes DOT's own line break."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


def _one_line(text: str) -> str:
    return " ".join(text.split())
