from __future__ import annotations

from clockwork_compose._graph import find_cycle, layers


def test_no_cycle_in_a_dag():
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None


def test_cycle_is_reported_as_a_path():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]


def test_self_loop():
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_layers_by_longest_path():
    graph = {"api": ["db", "migrator", "cache"], "migrator": ["db"], "worker": ["cache"], "db": [], "cache": []}
    assert layers(graph) == [["cache", "db"], ["migrator", "worker"], ["api"]]


def test_deep_chain_needs_no_recursion():
    n = 20_000
    graph = {f"s{i}": [f"s{i + 1}"] for i in range(n)} | {f"s{n}": []}
    assert len(layers(graph)) == n + 1
    assert find_cycle(graph) is None
    graph[f"s{n}"] = ["s0"]
    assert len(find_cycle(graph)) == n + 2
