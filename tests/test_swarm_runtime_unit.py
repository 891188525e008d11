"""The Swarm runtime's decisions, with the tasks faked at the docker seam (no engine)."""

from __future__ import annotations

import pytest

from clockwork_compose._model import CommandCheck, Healthcheck, Role, Service
from clockwork_compose._targets import swarm_runtime
from clockwork_compose._targets.swarm_runtime import SPEC_LABEL, spec_hash, state, subset

DOC = {
    "services": {
        "db": {"image": "postgres:16", "environment": {"PW": "${DB_PW:?set it}"}, "deploy": {"labels": {}}},
        "job": {
            "image": "postgres:16",
            "configs": [{"source": "a.sql-111", "target": "/clockwork/migrations/a.sql"}],
            "deploy": {"mode": "replicated-job", "labels": {}},
        },
    },
    "networks": {"app_network": {"driver": "overlay", "attachable": True}},
    "configs": {"a.sql-111": {"file": "./migrations/a.sql"}, "b.sql-222": {"file": "./migrations/b.sql"}},
}


def test_the_hash_changes_with_the_definition_and_with_the_values_filled_in():
    entry = DOC["services"]["db"]
    base = spec_hash(entry, {"DB_PW": "one"})
    assert spec_hash(entry, {"DB_PW": "one", "OTHER": "x"}) == base  # values it does not take do not count
    assert spec_hash(entry, {"DB_PW": "two"}) != base  # a new secret value redeploys
    assert spec_hash({**entry, "image": "postgres:17"}, {"DB_PW": "one"}) != base


def test_a_layer_deploys_only_its_services_with_their_configs_and_hash():
    doc = subset(DOC, {"job": "h1"})
    assert list(doc["services"]) == ["job"]
    assert doc["configs"] == {"a.sql-111": {"file": "./migrations/a.sql"}}  # not b.sql, used by nobody here
    assert doc["services"]["job"]["deploy"]["labels"][SPEC_LABEL] == "h1"
    assert doc["services"]["job"]["labels"][SPEC_LABEL] == "h1"  # on its containers too
    assert SPEC_LABEL not in DOC["services"]["job"]["deploy"]["labels"]  # the original is untouched
    assert "configs" not in subset(DOC, {"db": "h2"})


def task(state_: str, spec: str = "h", desired: str = "running", stamp: str = "1", code: int | None = None) -> dict:
    status = {"State": state_, "Timestamp": stamp, "Err": "task: non-zero exit (1)" if code else ""}
    if code is not None:
        status["ContainerStatus"] = {"ExitCode": code}
    return {
        "ID": f"t{stamp}",
        "DesiredState": desired,
        "Status": status,
        "Spec": {"ContainerSpec": {"Labels": {SPEC_LABEL: spec}}},
    }


DB = Service("db", role=Role.DATABASE, healthcheck=Healthcheck(CommandCheck(("true",)), 1, 3, 3))
JOB = Service("job", role=Role.MIGRATOR)
INSPECTED = {"ID": "s1", "Spec": {"Mode": {"Replicated": {"Replicas": 2}}}}


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    listed: list[dict] = []
    monkeypatch.setattr(swarm_runtime, "tasks", lambda service_id: listed)
    return listed


def test_a_service_is_ready_when_all_its_replicas_of_this_version_run(tasks: list[dict]):
    tasks += [task("running"), task("running", spec="old")]
    assert not state(DB, INSPECTED, "h").ready  # the old version's task does not count
    tasks.append(task("running", stamp="2"))
    now = state(DB, INSPECTED, "h")
    assert now.ready and now.phase == "healthy"


def test_a_crash_loop_fails_after_some_attempts(tasks: list[dict]):
    tasks += [task("failed", desired="shutdown", stamp=str(i), code=1) for i in range(swarm_runtime.CRASHES - 1)]
    assert not state(DB, INSPECTED, "h").failed
    tasks.append(task("failed", desired="shutdown", stamp="9", code=3))
    now = state(DB, INSPECTED, "h")
    assert now.failed and now.exit_code == 3 and now.task == "t9"


def test_a_job_completes_or_fails_in_its_current_iteration(tasks: list[dict]):
    inspected = {"ID": "s2", "Spec": {"Mode": {"ReplicatedJob": {}}}, "JobStatus": {"JobIteration": {"Index": 7}}}
    old = task("complete", stamp="1")
    old["JobIteration"] = {"Index": 6}
    tasks.append(old)
    assert not state(JOB, inspected, "h").ready  # an earlier run's success does not count
    failed = task("failed", stamp="2", code=1)
    failed["JobIteration"] = {"Index": 7}
    tasks.append(failed)
    now = state(JOB, inspected, "h")
    assert now.failed and now.exit_code == 1 and now.phase == "failed"
    done = task("complete", stamp="3")
    done["JobIteration"] = {"Index": 7}
    tasks.append(done)  # a retry that succeeded
    assert state(JOB, inspected, "h").phase == "migrated"
