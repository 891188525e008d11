"""Dependency graph algorithms, linear in nodes plus edges.

Graphs are ``{node: [nodes it depends on]}``; iteration is over sorted names so that the
same graph always gives the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]``, or None. Iterative DFS: no recursion limit."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in sorted(graph):
        if root in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                state[node] = 1
                path.append(node)
            edges = graph.get(node, ())
            if index < len(edges):
                stack.append((node, index + 1))
                nxt = edges[index]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if nxt not in state:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return None


def layers(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Deployment layers: a node sits one layer above the highest of its dependencies.

    Assumes no cycle (checked before)."""
    depth: dict[str, int] = {}
    for root in sorted(graph):
        stack = [root]
        while stack:
            node = stack[-1]
            if node in depth:
                stack.pop()
                continue
            pending = [d for d in graph.get(node, ()) if d not in depth]
            if pending:
                stack.extend(pending)
                continue
            depth[node] = 1 + max((depth[d] for d in graph.get(node, ())), default=-1)
            stack.pop()
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in sorted(depth):
        out[depth[node]].append(node)
    return out
