"""Healthchecks that rest once ready: every second while a service starts, every
``rest_interval`` after (``ProjectSettings(health_interval=)``), on every target; files for
older engines (``ProjectSettings(min_engine=)``), what build says of them, and apply's
refusal of a file its engine cannot read. No engine: the engine's version is faked."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from fakes import FakeEngine
from support import run_cli

from clockwork_compose import _api
from clockwork_compose._docker import EngineInfo
from clockwork_compose._errors import DeclarationError, RuntimeFailure
from clockwork_compose._fields import engine_version
from clockwork_compose._targets import base
from clockwork_compose._targets.base import MARGIN, Needs, deadline_seconds
from clockwork_compose._targets.compose import runtime as compose_runtime
from clockwork_compose._targets.swarm import runtime as swarm_runtime

#: A database (its engine's readiness check, 45 s of budget from the connection), an app
#: with an HTTP probe (2 s apart, 10 tries) and one with a HealthCheck of default timing.
MAIN = """
{settings}
db = DockerResource(name="db", image="postgres:16", env_vars={{"POSTGRES_PASSWORD": "x"}})
api = DockerResource(name="api", image="x/api:1", ports=["8080:80"],
                     readiness=HttpProbe("/health", interval=2, retries=10{probe}))
api.connect(DatabaseConnection(to_resource=db, timeout=45))
worker = DockerResource(name="worker", image="x/worker:1", healthcheck=HealthCheck(test="true"))
"""
DOCKER_TARGETS = ("compose", "swarm")


def compiled(make_project, target: str = "compose", settings: str = "", probe: str = "") -> dict[str, Any]:
    root = make_project(MAIN.format(settings=settings, probe=probe))
    return yaml.safe_load(_api.compile_project(root, target=target)[1])


def health(doc: dict[str, Any], name: str) -> dict[str, Any]:
    check = dict(doc["services"][name]["healthcheck"])
    check.pop("test")
    return check


@pytest.mark.parametrize("target", DOCKER_TARGETS)
def test_by_default_checks_run_every_second_while_starting_and_every_90_s_once_ready(make_project, target):
    doc = compiled(make_project, target)
    # The start period is the whole readiness budget: failures in it do not count, and the
    # first success is ready at once; then two failures 90 s apart make it unhealthy.
    assert health(doc, "db") == {
        "interval": "90s",
        "timeout": "3s",
        "retries": 2,
        "start_period": "45s",
        "start_interval": "1s",
    }
    assert health(doc, "api") == {
        "interval": "90s",
        "timeout": "3s",
        "retries": 2,
        "start_period": "20s",
        "start_interval": "2s",
    }
    assert health(doc, "worker")["start_interval"] == "1s" and health(doc, "worker")["start_period"] == "30s"


@pytest.mark.parametrize("target", DOCKER_TARGETS)
def test_an_older_engine_keeps_the_start_interval_for_as_long_as_the_stack_runs(make_project, target):
    doc = compiled(make_project, target, settings='ProjectSettings(min_engine="20.10")')
    assert health(doc, "db") == {"interval": "1s", "timeout": "3s", "retries": 45}
    assert health(doc, "api") == {"interval": "2s", "timeout": "3s", "retries": 10}
    assert all("start_interval" not in health(doc, name) for name in ("db", "api", "worker"))


def test_the_rest_interval_is_the_projects_unless_the_probe_gives_its_own(make_project):
    doc = compiled(make_project, settings="ProjectSettings(health_interval=45)", probe=", rest_interval=10")
    assert health(doc, "db")["interval"] == "45s"
    assert health(doc, "api")["interval"] == "10s"
    assert health(doc, "api")["start_interval"] == "2s"  # the start is timed as before


def test_kubernetes_starts_every_second_and_checks_readiness_every_10_s(make_project):
    for settings in ("", 'ProjectSettings(min_engine="20.10")'):  # no Docker Engine on Kubernetes
        root = make_project(MAIN.format(settings=settings, probe=""), name=f"k{len(settings)}")
        docs = list(yaml.safe_load_all(_api.compile_project(root, target="kubernetes")[1]))
        workloads = [d for d in docs if d and d["kind"] in ("Deployment", "StatefulSet")]
        pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in workloads}
        db = next(c for c in pods["db"]["containers"] if "startupProbe" in c)
        assert (db["startupProbe"]["periodSeconds"], db["startupProbe"]["failureThreshold"]) == (1, 45)
        assert (db["readinessProbe"]["periodSeconds"], db["readinessProbe"]["failureThreshold"]) == (10, 3)
        api = pods["api"]["containers"][0]
        assert (api["startupProbe"]["periodSeconds"], api["startupProbe"]["failureThreshold"]) == (2, 10)
        assert api["readinessProbe"]["periodSeconds"] == 10


def test_apply_waits_for_the_start_budget_not_for_the_rest(make_project):
    root = make_project(MAIN.format(settings="", probe=""))
    project = _api.compile_project(root)[0]
    assert deadline_seconds(project) == 45 + MARGIN  # the database's; 2 x 90 s at rest is not waited for


def test_a_healthcheck_timed_by_hand_is_written_as_given(make_project):
    root = make_project(
        """
        a = DockerResource(name="aa", image="x:1", healthcheck=HealthCheck(test="true", interval=5, retries=4))
        b = DockerResource(name="bb", image="x:1", healthcheck=HealthCheck(test="true", timeout=9))
        c = DockerResource(name="cc", image="x:1",
                           healthcheck=HealthCheck(test="true", interval=0.5, rest_interval=20))
        """
    )
    doc = yaml.safe_load(_api.compile_project(root)[1])
    assert health(doc, "aa") == {"interval": "5s", "timeout": "3s", "retries": 4}
    assert health(doc, "bb") == {  # its start timing is clockwork's: it rests once ready
        "interval": "90s",
        "timeout": "9s",
        "retries": 2,
        "start_period": "30s",
        "start_interval": "1s",
    }
    assert health(doc, "cc") == {
        "interval": "20s",
        "timeout": "3s",
        "retries": 2,
        "start_period": "15s",
        "start_interval": "0.5s",
    }


def test_resting_needs_a_start_timing_in_numbers(make_project):
    root = make_project(
        'DockerResource(name="aa", image="x:1", '
        'healthcheck=HealthCheck(test="true", interval=Env("EVERY", "1s"), rest_interval=30))\n'
    )
    with pytest.raises(DeclarationError, match=r"resource 'aa', field 'healthcheck.rest_interval'"):
        _api.compile_project(root)


@pytest.mark.parametrize("value", ['"twenty-five"', '"25."', '"v25"', "20.10", '""'])
def test_a_bad_min_engine_is_one_line_naming_the_setting_and_the_fix(make_project, value):
    root = make_project(f"ProjectSettings(min_engine={value})\n" + 'DockerResource(name="aa", image="x:1")\n')
    result = run_cli("build", "-C", str(root))
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert "'ProjectSettings', field 'min_engine'" in result.err and 'e.g. "25" or "20.10"' in result.err


def test_versions_compare_as_numbers():
    assert engine_version("20.10.24+dfsg1") == (20, 10, 24) < (25,)
    assert engine_version("9.0") < (25,) < engine_version("25.0.0-rc.1") < engine_version("100")
    assert engine_version("dev") == ()


def test_build_says_once_what_an_older_engine_costs_at_rest(make_project):
    root = make_project(MAIN.format(settings='ProjectSettings(min_engine="20.10")', probe=""))
    result = run_cli("build", "-C", str(root))
    assert result.code == 0, result.err
    said = [line for line in result.err.splitlines() if "healthchecks run every" in line]
    assert said == [
        '3 healthchecks run every 1-2 s for as long as the stack is up: ProjectSettings(min_engine="20.10") '
        "targets engines that cannot slow them down once ready; on Docker Engine 25+, declare "
        'ProjectSettings(min_engine="25") and they run every 90 s once ready'
    ]
    root = make_project(MAIN.format(settings="", probe=""), name="current")
    assert "run every" not in run_cli("build", "-C", str(root)).err


# -- apply: the engine's version, before anything changes ---------------------------------


def needs_for(root: Path, target: str = "compose") -> Needs:
    project, text, path = _api.compile_project(root, target=target)
    built = SimpleNamespace(project=project, text=text, path=path, notes=())
    unlocked = contextlib.nullcontext()
    return Needs(build=lambda project_dir, target: built, lock=lambda name, action: unlocked, environ={})


def test_compose_apply_refuses_a_file_the_engine_cannot_read_before_changing_anything(make_project, tmp_path):
    root = make_project(MAIN.format(settings="", probe=""))
    engine = FakeEngine(info=EngineInfo("20.10.24+dfsg1", "1.41", "2.26.1"))
    with pytest.raises(RuntimeFailure) as caught:
        compose_runtime.apply(root, needs_for(root), engine=engine)
    message = str(caught.value)
    assert message.startswith("docker-compose.yml needs Docker Engine 25 or newer")
    assert "this engine is 20.10.24+dfsg1 (API 1.41); nothing was changed" in message
    assert 'declare ProjectSettings(min_engine="20.10") in main.py and run clockwork build' in message
    assert "\n" not in message and caught.value.exit_code != 0
    assert engine.ups == 0 and engine.calls == 0 and engine.changes == 0  # not even a look at the containers


def test_an_older_engine_runs_a_file_for_it_and_one_without_healthchecks(make_project, monkeypatch):
    old = EngineInfo("20.10.24", "1.41", "2.26.1")
    checked: list[str] = []

    def refuse_after_the_check(*args: Any, **kwargs: Any) -> Any:
        checked.append("past the engine check")
        raise RuntimeFailure("stop here")

    monkeypatch.setattr(compose_runtime, "check_no_stack", refuse_after_the_check)
    for name, main in {
        "older": MAIN.format(settings='ProjectSettings(min_engine="20.10")', probe=""),
        "nocheck": 'DockerResource(name="aa", image="x:1")\n',
    }.items():
        root = make_project(main, name=name)
        with pytest.raises(RuntimeFailure, match="stop here"):
            compose_runtime.apply(root, needs_for(root), engine=FakeEngine(info=old))
    assert checked == ["past the engine check"] * 2


def swarm_refusal(root: Path, monkeypatch, answers: dict[tuple[str, ...], str]) -> tuple[str, list[tuple[str, ...]]]:
    """What swarm apply refuses with when docker answers ``answers`` (by the command's first
    words), and every docker command it ran: any other fails the test, as one that changes
    something would."""
    calls: list[tuple[str, ...]] = []

    def docker(*args: str, **kwargs: Any) -> str:
        calls.append(args)
        answer = next((out for words, out in answers.items() if args[: len(words)] == words), None)
        if answer is None:
            raise AssertionError(f"apply went on to `docker {' '.join(args)}`")
        return answer

    monkeypatch.setattr(swarm_runtime, "require_manager", lambda: None)
    monkeypatch.setattr(swarm_runtime, "docker", docker)
    with pytest.raises(RuntimeFailure) as caught:
        swarm_runtime.apply(root, needs_for(root, "swarm"))
    assert "\n" not in str(caught.value) and caught.value.exit_code != 0
    return str(caught.value), calls


def test_swarm_apply_refuses_a_file_the_manager_cannot_read_before_changing_anything(make_project, monkeypatch):
    root = make_project(MAIN.format(settings="", probe=""))
    message, calls = swarm_refusal(root, monkeypatch, {("version",): '{"Version": "24.0.7", "ApiVersion": "1.43"}'})
    assert message.startswith("docker-stack.yml needs Docker Engine 25 or newer")
    assert "this engine is 24.0.7 (API 1.43)" in message and 'ProjectSettings(min_engine="24.0")' in message
    assert calls == [("version", "--format", "{{json .Server}}")]


def test_swarm_apply_refuses_a_file_an_older_node_would_run_slowly_before_changing_anything(make_project, monkeypatch):
    root = make_project(MAIN.format(settings="", probe=""))
    swarm = [
        {"ID": "m1", "Description": {"Hostname": "manager", "Engine": {"EngineVersion": "26.1.5"}}},
        {"ID": "w1", "Description": {"Hostname": "worker-1", "Engine": {"EngineVersion": "20.10.24+dfsg1"}}},
        {"ID": "w2", "Description": {"Hostname": "worker-2", "Engine": {"EngineVersion": "24.0.7"}}},
        {"ID": "w3", "Description": {"Hostname": "drained", "Engine": {"EngineVersion": "19.03.1"}}},
    ]
    for node in swarm:
        node.update(Status={"State": "ready"}, Spec={"Availability": "drain" if node["ID"] == "w3" else "active"})
    answers = {
        ("version",): '{"Version": "26.1.5", "ApiVersion": "1.45"}',
        ("info",): "m1\n",
        ("node", "ls"): "m1\nw1\nw2\nw3\n",
        ("node", "inspect"): json.dumps(swarm),
    }
    message, calls = swarm_refusal(root, monkeypatch, answers)
    assert message.startswith("docker-stack.yml needs Docker Engine 25 or newer on every node that runs its services")
    assert "node worker-1 runs 20.10.24+dfsg1, node worker-2 runs 24.0.7; nothing was changed" in message
    assert "drained" not in message  # it runs no task
    assert "docker node update --availability drain worker-1 worker-2" in message
    assert 'ProjectSettings(min_engine="20.10")' in message
    looked = [("version", "--format"), ("info", "--format"), ("node", "ls"), ("node", "inspect")]
    assert [c[:2] for c in calls] == looked  # and nothing else


def test_an_older_node_is_no_concern_of_a_file_written_for_it(make_project):
    mains = {
        "older": MAIN.format(settings='ProjectSettings(min_engine="20.10")', probe=""),
        "nocheck": 'DockerResource(name="aa", image="x:1")\n',
        "resting": MAIN.format(settings="", probe=""),
    }
    projects = {name: _api.compile_project(make_project(main, name=name))[0] for name, main in mains.items()}
    for name in ("older", "nocheck"):
        assert base.nodes_refusal(projects[name], "docker-stack.yml", {"old": "20.10.24", "odd": "dev"}) is None
    assert base.nodes_refusal(projects["resting"], "f", {"new": "26.1.5", "odd": "dev", "unknown": ""}) is None
    assert base.nodes_refusal(projects["resting"], "f", {"new": "26.1.5", "old": "20.10.24"}) is not None
