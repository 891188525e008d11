"""`clockwork plan --format json|mermaid|dot`: each format carries every edge of the model
with its condition. The outputs are parsed back and compared with the compiled project's
``depends_on`` (and with the compose file's conditions), not only snapshotted."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from support import run_cli

from clockwork_compose import _api, _render

MAIN = """
db = DockerResource(name="db", image="postgres:16", ports=["5432"], env_vars={"POSTGRES_PASSWORD": "pw"})
cache = DockerResource(name="cache", image="redis:7", ports=["6379"])
api = DockerResource(name="api", image="example/api:1", ports=["8080:80"], readiness=HttpProbe("/health"))
worker = DockerResource(name="worker", image="example/worker:1")
end = DockerResource(name="end", image="example/end:1")      # a Mermaid keyword as a name
dotted = DockerResource(name="a.b", image="example/x:1")      # three names that one id
dashed = DockerResource(name="a-b", image="example/x:1")      # scheme could confuse
under = DockerResource(name="a_b", image="example/x:1")
api.connect(DatabaseConnection(to_resource=db))
api.connect(cache)
worker.connect(cache)
worker.connect(api)
end.connect(worker)
end.connect(dotted)
end.connect(dashed)
end.connect(under)
"""


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    from support import HEADER

    root = tmp_path_factory.mktemp("formats") / "shop"
    root.mkdir()
    (root / "main.py").write_text(HEADER + MAIN, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def expected(project_dir):
    """(dependency, dependant, condition, reasons) of every edge, from the model itself."""
    project, text, _ = _api.compile_project(project_dir)
    edges = {
        (dep.target, name, dep.condition.value, tuple(dep.reasons))
        for name, service in project.services.items()
        for dep in service.depends_on.values()
    }
    assert len(edges) >= 8  # the fixture really has edges of several kinds
    assert {e[2] for e in edges} >= {"healthy", "started"}
    return project, edges, yaml.safe_load(text)


def _plan(project_dir, fmt: str) -> str:
    result = run_cli("plan", "--format", fmt, "-C", str(project_dir))
    assert result.code == 0, result.err
    return result.out


def test_json_has_every_edge_with_its_condition(project_dir, expected):
    project, edges, compose = expected
    doc = json.loads(_plan(project_dir, "json"))
    assert doc["project"] == project.name
    got = {(e["from"], e["to"], e["condition"], tuple(e["reasons"])) for e in doc["edges"]}
    assert got == edges
    for edge in doc["edges"]:  # the condition as the compose file spells it
        assert compose["services"][edge["to"]]["depends_on"][edge["from"]]["condition"] == edge["compose_condition"]


def test_json_layers_and_services_match_the_plan(project_dir, expected):
    project, _, _ = expected
    doc = json.loads(_plan(project_dir, "json"))
    layers = _api.plan(project)
    assert doc["layers"] == [[step.service for step in layer] for layer in layers]
    services = {s["name"]: s for s in doc["services"]}
    assert set(services) == set(project.services)
    for number, layer in enumerate(layers, start=1):
        for step in layer:
            assert services[step.service]["layer"] == number
            assert services[step.service]["role"] == step.role
            assert [w["service"] for w in services[step.service]["waits_for"]] == [t for t, _, _ in step.waits_for]
    # A dependant always starts in a later layer than what it waits for.
    for edge in doc["edges"]:
        assert services[edge["from"]]["layer"] < services[edge["to"]]["layer"]


_MERMAID_NODE = re.compile(r'^  (s_\w+)(?:\[\("|\[\["|\[")(.+?)(?:"\)\]|"\]\]|"\])$')
_MERMAID_EDGE = re.compile(r'^  (s_\w+) -->\|"(.+)"\| (s_\w+)$')


def test_mermaid_draws_each_edge_with_its_condition(project_dir, expected):
    _, edges, _ = expected
    text = _plan(project_dir, "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    names = {}
    got = set()
    for line in lines[1:]:
        if line.startswith("  %%"):
            continue
        node, edge = _MERMAID_NODE.match(line), _MERMAID_EDGE.match(line)
        assert node or edge, f"not a node or an edge: {line!r}"
        if node:
            assert node[1] not in names, f"id {node[1]} given twice"
            names[node[1]] = node[2].split("<br/>")[0]
        else:
            got.add((names[edge[1]], names[edge[3]], edge[2]))
    assert got == {(a, b, _render._label(condition, reasons)) for a, b, condition, reasons in edges}
    assert {"end", "a.b", "a-b", "a_b"} <= set(names.values())
    assert not any(i in ("end", "s_end_") for i in names)  # ids are never keywords


_DOT_NODE = re.compile(r'^  "((?:[^"\\]|\\.)+)" \[shape=(\w+), label="(?:[^"\\]|\\.)*"\];$')
_DOT_EDGE = re.compile(r'^  "((?:[^"\\]|\\.)+)" -> "((?:[^"\\]|\\.)+)" \[label="((?:[^"\\]|\\.)*)"\];$')


def test_dot_draws_each_edge_with_its_condition(project_dir, expected):
    project, edges, _ = expected
    text = _plan(project_dir, "dot")
    assert text.startswith(f'digraph "{project.name}" {{\n') and text.endswith("}\n")
    nodes = {m[1]: m[2] for m in map(_DOT_NODE.match, text.splitlines()) if m}
    assert set(nodes) == set(project.services)
    assert nodes["db"] == "cylinder" and nodes["api"] == "box"
    got = {(m[1], m[2], m[3]) for m in map(_DOT_EDGE.match, text.splitlines()) if m}
    assert got == {(a, b, _render._label(condition, reasons)) for a, b, condition, reasons in edges}


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_reads_the_dot(project_dir):
    svg = subprocess.run(["dot", "-Tsvg"], input=_plan(project_dir, "dot"), capture_output=True, text=True)
    assert svg.returncode == 0, svg.stderr


def test_labels_that_hold_syntax_are_escaped():
    step = _api.Step("app", "app", (("db", "healthy", ('say "hi" <b>#1</b>', "x\\y")),), "")
    layers = [[_api.Step("db", "database", (), "")], [step]]
    mermaid = _render.render("mermaid", "p", layers)
    edge = [line for line in mermaid.splitlines() if "-->" in line][0]
    label = _MERMAID_EDGE.match(edge)[2]
    assert '"' not in label and "<" not in label and ">" not in label
    assert "#quot;hi#quot;" in label and "#35;1" in label
    dot = _render.render("dot", "p", layers)
    match = [m for m in map(_DOT_EDGE.match, dot.splitlines()) if m][0]
    assert match[3] == 'healthy (say \\"hi\\" <b>#1</b>, x\\\\y)'
    assert json.loads(_render.render("json", "p", layers))["edges"][0]["reasons"] == ['say "hi" <b>#1</b>', "x\\y"]


def test_an_unknown_format_is_refused():
    result = run_cli("plan", "--format", "yaml")
    assert result.code == 2 and "yaml" in result.err
    with pytest.raises(ValueError, match="yaml"):
        _render.render("yaml", "p", [])
