"""The runtime seam without Docker: error translation, Compose checks, and apply's waiting
logic driven by a fake engine passed to ``_deploy.apply`` (containers, compose up, logs)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fakes import FakeEngine
from python_on_whales.exceptions import DockerException

from clockwork_compose import _docker
from clockwork_compose._docker import ContainerState, EngineInfo
from clockwork_compose._errors import EngineUnavailable, RuntimeFailure
from clockwork_compose._model import CommandCheck, Condition, Dependency, Healthcheck, Project, Role, Service
from clockwork_compose._targets.base import MARGIN, Clock, Needs, deadline_seconds
from clockwork_compose._targets.compose import runtime as _deploy

NOW = datetime.now(UTC)


def docker_error(stderr: str, code: int = 1) -> DockerException:
    return DockerException(["docker", "compose", "up"], code, b"", stderr.encode())


# -- error translation ----------------------------------------------------------------------


def test_engine_failure_keeps_stderr_and_chains() -> None:
    with pytest.raises(RuntimeFailure) as info, _docker._translated("compose up of demo"):
        raise docker_error("Error response from daemon: Bind for 0.0.0.0:5432 failed: port is already allocated")
    assert "port is already allocated" in str(info.value)
    assert "compose up of demo failed" in str(info.value)
    assert isinstance(info.value.__cause__, DockerException)
    assert not isinstance(info.value, EngineUnavailable)


def test_no_daemon_is_engine_unavailable_with_fix() -> None:
    with pytest.raises(EngineUnavailable) as info, _docker._translated("checking the Docker engine"):
        raise docker_error("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the daemon running?")
    assert "docs.docker.com/engine/install" in str(info.value)
    assert "Cannot connect to the Docker daemon" in str(info.value)


def test_missing_cli_is_engine_unavailable() -> None:
    with pytest.raises(EngineUnavailable, match="docs.docker.com/engine/install"), _docker._translated("checking"):
        raise FileNotFoundError("docker")


def test_compose_progress_lines_are_dropped_from_errors() -> None:
    text = "\n".join(
        [
            " Network app_network  Creating",
            " Container postgres-db  Started",
            " Container postgres-db  Waiting",
            ' Container postgres-db-migrator  service "postgres-db-migrator" didn\'t complete successfully: exit 1',
            'service "postgres-db-migrator" didn\'t complete successfully: exit 1',
        ]
    )
    assert _docker.without_progress(text) == 'service "postgres-db-migrator" didn\'t complete successfully: exit 1'


def test_compose_warnings_and_error_markers_are_not_the_error() -> None:
    text = "\n".join(
        [
            'time="2026-12-02T22:11:35Z" level=warning msg="a network with name app_network exists but was not '
            'created by compose.\\nSet `external: true` to use an existing network"',
            "Container up-dep-cache  Error",
            "dependency failed to start: container up-dep-cache is unhealthy",
        ]
    )
    assert _docker.without_progress(text) == "dependency failed to start: container up-dep-cache is unhealthy"


def test_without_progress_keeps_text_that_is_all_progress() -> None:
    assert _docker.without_progress(" Container a  Started") == "Container a  Started"


# -- engine and Compose versions ------------------------------------------------------------


V2 = "Docker Compose version v2.26.1-4\n"
SERVER = '{"Client": {"Version": "28.2.2"}, "Server": {"Version": "20.10.24", "ApiVersion": "1.41"}}'
NO_DAEMON = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


def done(out: str = "", err: str = "", code: int = 0) -> _docker._Done:
    return _docker._Done(code, out, err)


def test_engine_info_reads_versions() -> None:
    assert _docker.engine_info_from(done(SERVER), done(V2)) == EngineInfo("20.10.24", "1.41", "2.26.1-4")


def test_compose_v1_is_refused_with_fix() -> None:
    with pytest.raises(EngineUnavailable, match="not v2.*docs.docker.com/engine/install"):
        _docker.engine_info_from(done(SERVER), done("docker-compose version 1.29.2, build unknown"))


def test_missing_compose_plugin_is_refused() -> None:
    missing = done(err="docker: 'compose' is not a docker command.\nSee 'docker --help'", code=1)
    with pytest.raises(EngineUnavailable, match="Compose v2.*missing.*not a docker command"):
        _docker.engine_info_from(done(SERVER), missing)


def test_no_server_is_engine_unavailable() -> None:
    with pytest.raises(EngineUnavailable, match="no Docker engine answers"):
        _docker.engine_info_from(done('{"Client": {}, "Server": null}'), done(V2))


def test_no_daemon_is_engine_unavailable_with_its_words_and_fix() -> None:
    down = done('{"Client": {}, "Server": null}', NO_DAEMON, code=1)
    with pytest.raises(EngineUnavailable, match="Cannot connect to the Docker daemon.*docs.docker.com/engine/install"):
        _docker.engine_info_from(down, done(V2))


def test_missing_docker_cli_is_engine_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineUnavailable, match="docker CLI is not installed.*docs.docker.com/engine/install"):
        _docker.EngineCheck().result()


def test_failed_call_keeps_stderr_without_progress() -> None:
    error = _docker._failed(
        "compose up of demo",
        done(err=" Container db  Started\nError response from daemon: port is already allocated\n", code=1),
    )
    assert isinstance(error, RuntimeFailure) and not isinstance(error, EngineUnavailable)
    assert str(error) == "compose up of demo failed: Error response from daemon: port is already allocated"


@pytest.mark.parametrize(
    "err",
    [
        "Error response from daemon: get gone: no such volume",  # outside swarm mode
        "Error response from daemon: volume gone not found",  # in swarm mode
        "Error response from daemon: No such container: gone\nError response from daemon: No such container: x",
        "Error response from daemon: network gone not found",
    ],
)
def test_each_engines_words_for_a_missing_object_are_missing(err: str) -> None:
    assert _docker._only_missing(err)


def test_a_missing_object_beside_another_error_is_an_error() -> None:
    err = "Error response from daemon: volume gone not found\nError response from daemon: volume is in use"
    assert not _docker._only_missing(err)


# -- container states from `docker container inspect` -------------------------------------


INSPECTED = {
    "Id": "abc",
    "Name": "/db-migrator",
    "Created": "2026-01-01T00:00:00.123456789Z",
    "Image": "sha256:ffff",
    "State": {
        "Status": "exited",
        "ExitCode": 0,
        "StartedAt": "2026-01-01T00:00:01.5Z",
        "FinishedAt": "2026-01-01T00:00:02Z",
    },
    "Config": {
        "Image": "postgres:15-alpine",
        "Labels": {
            "com.docker.compose.project": "demo",
            "com.docker.compose.service": "db-migrator",
            "com.docker.compose.config-hash": "h1",
            "com.docker.compose.image": "sha256:ffff",
        },
    },
    "NetworkSettings": {"Networks": {"app_network": {}}},
}


def test_state_from_inspect_json() -> None:
    s = _docker._state(INSPECTED)
    assert (s.name, s.service, s.project, s.status, s.health, s.exit_code) == (
        "db-migrator",
        "db-migrator",
        "demo",
        "exited",
        None,
        0,
    )
    assert s.created == datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert s.started == datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert (s.config_hash, s.image, s.image_id) == ("h1", "postgres:15-alpine", "sha256:ffff")
    assert s.networks == ("app_network",)


def test_never_is_none() -> None:
    assert _docker.engine_time("0001-01-01T00:00:00Z") is None


def test_logs_are_sorted_by_time_with_trimmed_fractions() -> None:
    lines = ["2026-01-01T00:00:01.5Z b", "2026-01-01T00:00:01.123456789Z a", "2026-01-01T00:00:02Z c"]
    ordered = [_docker._untimed(line) for line in sorted(lines, key=_docker._log_time)]
    assert ordered == ["a", "b", "c"]


# -- phases and the deadline ----------------------------------------------------------------


def state(
    name: str,
    status: str = "running",
    health: str | None = None,
    exit_code: int = 0,
    finished: datetime | None = None,
    cid: str | None = None,
    created: datetime = NOW,
    started: datetime | None = None,
) -> ContainerState:
    started = started or (finished - timedelta(seconds=1) if finished else created)
    return ContainerState(
        name, name, cid or f"id-{name}", status, health, exit_code, created, finished, started, project="demo"
    )


DB = Service("db", role=Role.DATABASE, healthcheck=Healthcheck(CommandCheck(("true",)), 1.0, 3.0, 30))
MIGRATOR = Service(
    "db-migrator", role=Role.MIGRATOR, restart="no", depends_on={"db": Dependency("db", Condition.HEALTHY)}
)
APP = Service("app", depends_on={"db-migrator": Dependency("db-migrator", Condition.COMPLETED)})
JOB = Service("job", restart="no")


@pytest.mark.parametrize(
    ("service", "container", "expected"),
    [
        (DB, None, "waiting"),
        (DB, state("db", "created"), "waiting"),
        (DB, state("db", health="starting"), "starting"),
        (DB, state("db", health="healthy"), "healthy"),
        (DB, state("db", health="unhealthy"), "unhealthy"),
        (APP, state("app"), "running (no readiness probe)"),
        (APP, state("app", "restarting"), "restarting"),
        (MIGRATOR, state("db-migrator"), "migrating"),
        (MIGRATOR, state("db-migrator", "exited", finished=NOW), "migrated"),
        (MIGRATOR, state("db-migrator", "exited", exit_code=1, finished=NOW), "failed"),
        (APP, state("app", "exited", finished=NOW), "exited"),  # restart unless-stopped: meant to stay up
        (JOB, state("job", "exited", finished=NOW), "completed"),
    ],
)
def test_phase(service: Service, container: ContainerState | None, expected: str) -> None:
    assert _deploy.phase(service, container, NOW - timedelta(seconds=5)) == expected


def test_one_shot_from_a_previous_apply_is_waiting_not_failed() -> None:
    old = state("db-migrator", "exited", exit_code=1, finished=NOW - timedelta(minutes=5))
    assert _deploy.phase(MIGRATOR, old, NOW) == "waiting"


def project() -> Project:
    return Project("demo", {s.name: s for s in (DB, MIGRATOR, APP)}, ["app_network"], [])


def test_deadline_is_longest_readiness_budget_plus_margin() -> None:
    assert deadline_seconds(project()) == 30 + MARGIN


def test_dependency_order() -> None:
    assert _deploy.dependency_order(project()) == ["db", "db-migrator", "app"]


# -- apply's waiting loop, against a fake runtime -------------------------------------------


def scripted(snapshots: list[dict[str, ContainerState]], **kw: Any) -> FakeEngine:
    """The shared fake engine, its containers those of the first snapshot; apply's polls see
    ``snapshots`` in turn (the last one stays). Compose's config hashes and the image ids match
    the first snapshot's containers unless ``hashes`` says otherwise (nothing changed)."""
    return FakeEngine(snapshots[0].values(), polls=snapshots, **kw)


#: apply's clock in these tests: quick polls, a short grace.
FAST = Clock(poll=0.01, grace=0.05)


def needs(tmp_path: Path, built_project: Project | None = None) -> Needs:
    """What apply is given instead of the real build, lock and environment: it builds
    ``project()`` (or ``built_project``); no host lock (a second run of this suite on the host
    has the same tmp_path names); an empty environment."""
    built = SimpleNamespace(project=built_project or project(), path=tmp_path / "docker-compose.yml", notes=())
    return Needs(
        build=lambda project_dir, target: built,
        lock=lambda name, action: contextlib.nullcontext(),
        environ={},
        clock=FAST,
    )


@pytest.fixture
def fake_apply():
    """The fake engine a test passes to ``_deploy.apply`` (with ``needs``); afterwards, that
    apply neither removed a container (nothing is an orphan) nor created a volume (the
    project declares none)."""
    engines: list[FakeEngine] = []

    def install(engine: FakeEngine) -> FakeEngine:
        engines.append(engine)
        return engine

    yield install
    for engine in engines:
        assert engine.removed_groups == [], "apply removed containers, though nothing is an orphan"
        assert engine.created_volumes == [], "apply created a volume, though the project declares none"


def soon() -> datetime:
    """Just after apply starts: a one-shot that finished then belongs to this apply.
    (Not module-level NOW: in a long run the module is imported minutes before the test.)"""
    return datetime.now(UTC) + timedelta(seconds=1)


def healthy() -> dict[str, ContainerState]:
    return {
        "db": state("db", health="healthy"),
        "db-migrator": state("db-migrator", "exited", finished=soon()),
        "app": state("app"),
    }


def test_apply_succeeds_and_reports_progress(fake_apply, tmp_path: Path) -> None:
    # A first apply: every container appears once apply started.
    made = {name: dataclasses.replace(s, created=soon(), started=soon()) for name, s in healthy().items()}
    engine = fake_apply(scripted([{}, {"db": state("db", health="starting", created=soon())}, made]))
    seen: list[tuple[str, str]] = []
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine, on_progress=lambda s, p, t: seen.append((s, p)))
    assert report.ok
    assert ("db", "starting") in seen and ("db", "healthy") in seen
    assert ("db-migrator", "migrated") in seen
    assert [s.change for s in report.services] == ["created", "created", "created"]


def test_a_swarm_stack_of_the_project_name_stops_apply_before_anything_changes(fake_apply, tmp_path: Path) -> None:
    engine = fake_apply(scripted([{}]))
    engine.stacks["demo"] = _docker.SwarmStack({"demo_db": ""})
    with pytest.raises(RuntimeFailure, match="Swarm stack .* runs on this engine"):
        _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert engine.ups == 0 and engine.calls == 0  # no compose up, not even a look at the containers


def test_nothing_changed_runs_no_compose_up(fake_apply, tmp_path: Path) -> None:
    engine = fake_apply(scripted([healthy()]))
    seen: list[tuple[str, str]] = []
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine, on_progress=lambda s, p, t: seen.append((s, p)))
    assert report.ok and report.why_up == {}
    assert engine.ups == 0, "compose up ran (and with it the migrator) with nothing to do"
    assert {s.change for s in report.services} == {"unchanged"}
    assert ("db-migrator", "migrated") in seen  # its run of an earlier apply counts


class Counted:
    """An engine that records the name of every call made to it, then makes it on ``engine``."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.asked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.engine, name)
        if not callable(found):
            return found

        def call(*args: Any, **kw: Any) -> Any:
            self.asked.append(name)
            return found(*args, **kw)

        return call


def _pairs(count: int) -> tuple[Project, dict[str, ContainerState]]:
    """``count`` databases and ``count`` apps each waiting for its own, all up since long ago."""
    services, running = {}, {}
    for i in range(count):
        db, app = f"db-{i}", f"app-{i}"
        services[db] = Service(db, role=Role.DATABASE, healthcheck=DB.healthcheck)
        services[app] = Service(app, depends_on={db: Dependency(db, Condition.HEALTHY)}, healthcheck=DB.healthcheck)
        long_ago = NOW - timedelta(hours=1)
        running[db] = state(db, health="healthy", created=long_ago)
        running[app] = state(app, health="healthy", created=long_ago)
    return Project("demo", services, [], []), running


def test_a_re_apply_with_nothing_changed_asks_the_engine_the_same_whatever_the_size(tmp_path: Path) -> None:
    """Each container inspected once, in one call, and no poll after it: the engine calls of a
    re-apply are as many for 80 services as for 2 (each one a process; an inspection costs the
    engine one request per container)."""
    asked = {}
    for pairs in (1, 40):
        built, running = _pairs(pairs)
        fake = FakeEngine(running.values())
        engine = Counted(fake)
        report = _deploy.apply(tmp_path, needs(tmp_path, built), engine=engine)  # type: ignore[arg-type]
        assert report.ok and report.why_up == {} and fake.ups == 0
        assert {s.phase for s in report.services} == {"healthy"}
        assert [sorted(ids) for ids in fake.inspected] == [sorted(s.id for s in running.values())]
        assert "containers" not in engine.asked, "polled the containers again after inspecting them"
        asked[pairs] = sorted(engine.asked)
    assert asked[1] == asked[40]
    assert asked[40].count("inspect_containers") == 1 and asked[40].count("config_hashes") == 1


def test_a_container_that_restarted_is_looked_at_again(tmp_path: Path) -> None:
    """A re-apply that finds a container restarted by its policy polls once more: a crash
    loop is caught even when nothing changes."""
    built, running = _pairs(1)
    running["app-0"] = dataclasses.replace(running["app-0"], restart_count=1)
    fake = FakeEngine(running.values())
    engine = Counted(fake)
    report = _deploy.apply(tmp_path, needs(tmp_path, built), engine=engine)  # type: ignore[arg-type]
    assert report.ok and engine.asked.count("containers") == 1


def test_only_a_changed_migrator_is_given_to_compose_up(fake_apply, tmp_path: Path) -> None:
    engine = fake_apply(scripted([healthy()], hashes={"db": "", "db-migrator": "new", "app": ""}))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.ok and report.why_up == {"db-migrator": "configuration changed"}
    assert engine.ups == 1 and engine.up_services == ["db-migrator"]  # app is left alone
    assert {s.change for s in report.services} == {"unchanged"}


def test_any_other_change_gives_compose_up_everything(fake_apply, tmp_path: Path) -> None:
    engine = fake_apply(scripted([healthy()], hashes={"db": "", "db-migrator": "new", "app": "new"}))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.ok and set(report.why_up) == {"db-migrator", "app"}
    assert engine.ups == 1 and engine.up_services is None


def test_recreated_container_is_reported(fake_apply, tmp_path: Path) -> None:
    before = healthy()
    after = {**before, "app": state("app", cid="new-id")}
    engine = fake_apply(scripted([before, after], hashes={"db": "", "db-migrator": "", "app": "new"}))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert {s.name: s.change for s in report.services}["app"] == "recreated"


# -- does compose up have anything to do? ---------------------------------------------------


def ran_before(**changes: ContainerState) -> dict[str, ContainerState]:
    """An applied stack: the database created, then the migrator ran, then the app started."""
    t = NOW - timedelta(minutes=10)
    states = {
        "db": state("db", health="healthy", created=t),
        "db-migrator": state("db-migrator", "exited", finished=t + timedelta(seconds=5), created=t),
        "app": state("app", created=t),
    }
    return {**states, **changes}


def why(states: dict[str, ContainerState], hashes: dict[str, str] | None = None) -> dict[str, str]:
    current = {name: s.config_hash for name, s in ran_before().items()}
    return _deploy.stale(project(), states, {**current, **(hashes or {})}, {"": ""})


def test_nothing_to_do_when_every_container_is_current() -> None:
    assert why(ran_before()) == {}


@pytest.mark.parametrize(
    ("states", "hashes", "expected"),
    [
        (ran_before(app=state("app", "exited", exit_code=137)), {}, {"app": "exited"}),
        ({k: v for k, v in ran_before().items() if k != "db-migrator"}, {}, {"db-migrator": "no container"}),
        (ran_before(), {"db-migrator": "edited migrations"}, {"db-migrator": "configuration changed"}),
        (ran_before(), {"db": "new password"}, {"db": "configuration changed"}),
        (
            ran_before(**{"db-migrator": state("db-migrator", "exited", exit_code=1, finished=NOW)}),
            {},
            {"db-migrator": "not completed"},
        ),
        (
            ran_before(db=state("db", health="healthy", created=NOW)),
            {},
            {"db-migrator": "db created after it last ran"},
        ),
    ],
)
def test_compose_up_must_run(
    states: dict[str, ContainerState], hashes: dict[str, str], expected: dict[str, str]
) -> None:
    assert why(states, hashes) == expected


def test_an_image_rebuilt_under_the_same_tag_needs_compose_up() -> None:
    states = ran_before()
    current = {name: s.config_hash for name, s in states.items()}
    assert _deploy.stale(project(), states, current, {"": "sha256:new"}) == {
        "db": "image changed",
        "db-migrator": "image changed",
        "app": "image changed",
    }


def test_migrators_alone_go_to_compose_up_else_everything() -> None:
    assert _deploy.up_services(project(), {"db-migrator": "not completed"}) == ["db-migrator"]
    assert _deploy.up_services(project(), {"db-migrator": "x", "db": "y"}) is None


def test_failed_migrator_names_it_with_logs_and_engine_error(fake_apply, tmp_path: Path) -> None:
    failed = {
        "db": state("db", health="healthy"),
        "db-migrator": state("db-migrator", "exited", exit_code=1, finished=soon()),
        "app": state("app", "created"),
    }
    engine = fake_apply(
        scripted([failed], up_error=RuntimeFailure('service "db-migrator" didn\'t complete successfully'))
    )
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert not report.ok and report.failure is not None
    assert report.failure.service == "db-migrator"
    assert "exit code 1" in report.failure.reason and "didn't complete successfully" in report.failure.reason
    assert report.failure.logs == "last lines of db-migrator"
    assert {s.name: s.phase for s in report.services}["app"] == "waiting"


def test_engine_error_without_failed_container_names_the_service(fake_apply, tmp_path: Path) -> None:
    error = RuntimeFailure("driver failed programming external connectivity on endpoint db: port is already allocated")
    engine = fake_apply(scripted([{"db": state("db", "created")}], up_error=error))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service == "db"
    assert "port is already allocated" in report.failure.reason


def test_crashing_leaf_service_fails_even_when_compose_up_succeeded(fake_apply, tmp_path: Path) -> None:
    engine = fake_apply(scripted([{**healthy(), "app": state("app", "restarting", exit_code=3)}]))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service == "app"
    assert "keeps restarting" in report.failure.reason


def test_timeout_names_what_it_waited_for(fake_apply, tmp_path: Path) -> None:
    engine = fake_apply(scripted([{"db": state("db", health="starting")}], up_seconds=5))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine, timeout=0.2)
    assert report.failure is not None
    assert report.failure.service == "db"
    assert "timed out" in report.failure.reason and "db, db-migrator, app" in report.failure.reason


# -- ready means ready: probes, crash loops, early exits, timeouts, Ctrl-C, hints ----------------


def test_an_app_without_a_probe_is_started_until_it_has_stayed_up_a_while() -> None:
    just = state("app", started=NOW - timedelta(seconds=0.5))
    assert _deploy.phase(APP, just, None, NOW) == "started"
    assert _deploy.phase(APP, just, None, NOW + timedelta(seconds=_deploy.SETTLE)) == _deploy.UNPROBED
    assert _deploy.UNPROBED in _deploy.GOOD and "started" not in _deploy.GOOD


def test_a_one_shot_app_completes_unless_something_waits_for_it() -> None:
    done = state("job", "exited", finished=NOW)
    assert _deploy.phase(JOB, done, None, NOW) == "completed"
    assert _deploy.phase(JOB, done, None, NOW, stays_up=True) == "exited"
    assert _deploy.meant_to_stay_up(JOB, waited_for=True)
    assert not _deploy.meant_to_stay_up(JOB)
    assert _deploy.meant_to_stay_up(DB) and not _deploy.meant_to_stay_up(MIGRATOR)
    assert _deploy.phase(DB, state("db", "exited", finished=NOW), None, NOW) == "exited"


def _restarted(name: str, count: int, status: str = "running", exit_code: int = 0) -> ContainerState:
    """A container its restart policy restarted ``count`` times: the engine shows exit code 0
    while it runs again, the code of its last death only while it waits to restart."""
    ended = NOW - timedelta(seconds=0.5)
    return dataclasses.replace(
        state(name, status, exit_code=exit_code, finished=ended, started=ended if status == "restarting" else NOW),
        restart_count=count,
    )


def test_a_restart_count_that_grows_while_apply_waits_is_a_crash_loop(fake_apply, tmp_path: Path) -> None:
    first = {**healthy(), "app": _restarted("app", 4)}  # restarted before this apply: not counted
    later = {**healthy(), "app": _restarted("app", 5)}
    # Only the migrator changed: compose up runs it (a while) and leaves the app alone.
    engine = fake_apply(
        scripted(
            [first, first, later],
            up_seconds=0.3,
            hashes={"db": "", "db-migrator": "new", "app": ""},
            exit_events={"id-app": 3},
        )
    )
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service == "app"
    assert "keeps restarting (restarted 5 times, last exit code 3)" in report.failure.reason
    assert report.failure.logs == "last lines of app"


def test_a_crash_loop_names_the_exit_code_seen_while_it_waited_to_restart(fake_apply, tmp_path: Path) -> None:
    """Seen waiting to restart with exit code 3, then running again (code 0 in the engine's
    state): the code is 3, without asking the engine's events."""
    snapshots = [
        {**healthy(), "app": _restarted("app", 1)},
        {**healthy(), "app": _restarted("app", 1, "restarting", exit_code=3)},
        {**healthy(), "app": _restarted("app", 2)},
    ]
    engine = fake_apply(scripted(snapshots, exit_events={"id-app": 99}))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None
    assert report.failure.reason.startswith("app keeps restarting (restarted 2 times, last exit code 3)")


def test_a_crash_loop_whose_exit_the_engine_forgot_says_so(fake_apply, tmp_path: Path) -> None:
    snapshots = [{**healthy(), "app": _restarted("app", 1)}, {**healthy(), "app": _restarted("app", 2)}]
    engine = fake_apply(scripted(snapshots))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None
    assert "(restarted 2 times, last exit code not known)" in report.failure.reason
    assert "last exit code 0" not in report.failure.reason


def test_an_app_meant_to_stay_up_that_exits_0_fails(fake_apply, tmp_path: Path) -> None:
    engine = fake_apply(scripted([{**healthy(), "app": state("app", "exited", finished=soon())}], hashes={}))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service == "app"
    assert 'app exited with code 0 but is meant to stay up (restart: "unless-stopped")' in report.failure.reason


def test_timeout_while_the_migrator_runs_says_it_keeps_running(fake_apply, tmp_path: Path) -> None:
    # Both created by this apply (Compose replaced the old ones), the migrator still running.
    running = {"db": state("db", health="healthy", created=soon()), "db-migrator": state("db-migrator", created=soon())}
    engine = fake_apply(scripted([running], up_seconds=5, hashes={}))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine, timeout=0.2)
    assert report.failure is not None
    assert "db-migrator is still running: it keeps running and may still commit" in report.failure.reason


def test_unhealthy_shows_what_the_probe_said(fake_apply, tmp_path: Path) -> None:
    sick = dataclasses.replace(state("db", health="unhealthy"), health_output="curl: (7) Failed to connect\n")
    engine = fake_apply(scripted([{"db": sick}], hashes={}))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None
    assert "db is unhealthy; its readiness probe said: curl: (7) Failed to connect" in report.failure.reason


def test_a_resting_probe_still_starting_past_its_budget_is_unhealthy() -> None:
    """A healthcheck that rests once ready starts with a period as long as its budget: Docker
    says "starting" until REST_RETRIES checks at rest fail (60 s later). Past the budget and
    one more check, clockwork calls it unhealthy; a hand-timed check is left to Docker."""
    resting = Healthcheck(CommandCheck(("true",)), 1.0, 3.0, 30, rest_interval=30.0)
    db = dataclasses.replace(DB, healthcheck=resting)
    booting = dataclasses.replace(state("db", health="starting"), started=NOW)
    assert resting.start_budget == 30
    assert _deploy.phase(db, booting, None, NOW + timedelta(seconds=33)) == "starting"
    assert _deploy.phase(db, booting, None, NOW + timedelta(seconds=35)) == "unhealthy"
    assert _deploy.phase(DB, booting, None, NOW + timedelta(seconds=300)) == "starting"


def test_compose_up_waiting_on_a_probe_past_its_budget_does_not_hold_apply(fake_apply, tmp_path: Path) -> None:
    """Compose waits for Docker's "unhealthy", which a resting probe reaches 60 s after its
    budget: apply reports the probe's failure after its grace, not a timeout."""
    quick = Healthcheck(CommandCheck(("true",)), 0.01, 0.01, 2, rest_interval=30.0)
    db = dataclasses.replace(DB, healthcheck=quick)
    booting = dataclasses.replace(
        state("db", health="starting"), started=NOW - timedelta(seconds=10), health_output="refused\n"
    )
    built = Project("demo", {s.name: s for s in (db, MIGRATOR, APP)}, ["app_network"], [])
    engine = fake_apply(scripted([{"db": booting}], up_seconds=5))
    report = _deploy.apply(tmp_path, needs(tmp_path, built), engine=engine, timeout=1.0)
    assert report.failure is not None and report.failure.service == "db"
    assert "db is unhealthy; its readiness probe said: refused" in report.failure.reason


def test_ctrl_c_while_waiting_says_what_was_left_running(fake_apply, tmp_path: Path) -> None:
    engine = fake_apply(scripted([{"db": state("db", health="starting")}], up_seconds=5, hashes={}, interrupt_at=3))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.interrupted
    assert report.failure.reason == (
        "interrupted (Ctrl-C) while waiting; left running: db (starting); not started: db-migrator, app"
    )


def test_a_changed_password_on_an_old_volume_gets_a_hint(fake_apply, tmp_path: Path) -> None:
    failed = {
        "db": state("db", health="healthy"),
        "db-migrator": state("db-migrator", "exited", exit_code=1, finished=soon()),
    }
    words = 'psql: error: FATAL:  password authentication failed for user "admin"'
    engine = fake_apply(scripted([failed], hashes={}, log_text=words))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service == "db-migrator"
    assert "applies POSTGRES_PASSWORD (and POSTGRES_USER) only when its data volume is first created" in (
        report.failure.reason
    )
    assert "`clockwork destroy` (deletes the data)" in report.failure.reason


# -- a change Compose makes while apply watches: never a failure of its own ----------------------


class ComposeAtWork(FakeEngine):
    """`compose up` moves the engine through ``steps``, one every STEP seconds (apply polls
    each several times), then ends; the last step stays. ``forever``: it never ends (it
    waits for a dependency that never gets ready)."""

    STEP = 0.05

    def __init__(self, before: dict[str, ContainerState], steps: list[dict[str, ContainerState]], **kw: object):
        super().__init__(before.values(), polls=[before], **kw)  # type: ignore[arg-type]
        self.current = before
        self.steps = steps
        self.up_done = False
        self.forever = False

    def containers(
        self, name: str, names: list[str] | None = None, include_oneoff: bool = False
    ) -> dict[str, ContainerState]:
        return self.current

    def compose_up(self, project: _docker.ComposeProject, services: Sequence[str] | None = None) -> str:
        self.ups += 1
        for step in self.steps:
            time.sleep(self.STEP)
            self.current = step
        time.sleep(30 if self.forever else self.STEP)
        self.up_done = True
        if self.up_error:
            raise self.up_error
        return ""


#: Compose's hashes when only the database's configuration changed.
DB_CHANGED = {"db": "new env", "db-migrator": "", "app": "", "job": ""}


def _running_before() -> dict[str, ContainerState]:
    """An applied stack: the database, its migrator's run, the app, all from before."""
    t = NOW - timedelta(minutes=10)
    return {
        "db": state("db", health="healthy", created=t, cid="old-db"),
        "db-migrator": state("db-migrator", "exited", finished=t + timedelta(seconds=5), created=t, cid="old-m"),
        "app": state("app", created=t, cid="old-app"),
    }


def _crashing(count: int, status: str = "restarting", later: bool = False) -> ContainerState:
    """The old app container, restarted by its policy; ``later``: a run begun after its
    dependencies were back (the fake's polls see these after they were made)."""
    began = datetime.now(UTC) + timedelta(minutes=5) if later else NOW - timedelta(minutes=10)
    ended = began + timedelta(seconds=1)
    app = state("app", status, exit_code=1 if status == "restarting" else 0, finished=ended, started=began)
    return dataclasses.replace(app, id="old-app", created=NOW - timedelta(minutes=10), restart_count=count)


def _recreation(app_after: ContainerState) -> list[dict[str, ContainerState]]:
    """What Compose does to apply a changed database: stops the old one (its dependant,
    losing its connection, crash-loops meanwhile), creates and starts the new one, runs the
    migrator again once it is healthy; ``app_after``: the app once that is done."""
    before = _running_before()
    new_db = state("db", "created", created=soon(), cid="new-db")
    migrated = state("db-migrator", "exited", created=soon(), finished=soon(), cid="new-m")
    return [
        {**before, "app": _crashing(1)},
        {**before, "db": dataclasses.replace(before["db"], status="exited", health=None), "app": _crashing(2)},
        {**before, "db": new_db, "app": _crashing(3)},
        {**before, "db": dataclasses.replace(new_db, status="running", health="starting"), "app": _crashing(4)},
        {**before, "db": dataclasses.replace(new_db, status="running", health="healthy"), "app": _crashing(5)},
        {
            "db": dataclasses.replace(new_db, status="running", health="healthy"),
            "db-migrator": migrated,
            "app": app_after,
        },
    ]


def test_a_dependant_restarting_while_compose_recreates_its_dependency_is_not_a_crash_loop(
    fake_apply, tmp_path: Path
) -> None:
    """Issue 16 item 9: a changed broker or database; its dependant crash-loops while the
    old one stops and the new one starts. Compose then recreates the dependant too (2.26
    does): apply waits for it and succeeds."""
    new_app = state("app", created=soon(), started=soon(), cid="new-app")
    engine = fake_apply(ComposeAtWork(_running_before(), _recreation(new_app), hashes=DB_CHANGED))
    seen: list[tuple[str, str]] = []
    report = _deploy.apply(
        tmp_path, needs(tmp_path), engine=engine, on_progress=lambda s, p, t: seen.append((s, p)), timeout=10
    )
    assert report.failure is None, report.failure
    assert report.why_up == {"db": "configuration changed"}
    assert ("db", "recreating") in seen and ("app", "restarting, waits for db") in seen
    assert not any(phase in _deploy.BAD for _, phase in seen), seen
    assert {s.name: (s.phase, s.change) for s in report.services} == {
        "db": ("healthy", "recreated"),
        "db-migrator": ("migrated", "recreated"),
        "app": (_deploy.UNPROBED, "recreated"),
    }


def test_a_dependant_its_restart_policy_brings_back_is_waited_for(fake_apply, tmp_path: Path) -> None:
    """Compose leaves the old app container (restarting, its policy's back-off): once its
    dependencies are back, apply waits for it to run again, and that is a success."""
    steps = _recreation(_crashing(5))
    back = dataclasses.replace(_crashing(5, "running", later=True), exit_code=0, health="healthy")
    engine = fake_apply(ComposeAtWork(_running_before(), [*steps, {**steps[-1], "app": back}], hashes=DB_CHANGED))
    seen: list[tuple[str, str]] = []
    report = _deploy.apply(
        tmp_path, needs(tmp_path), engine=engine, on_progress=lambda s, p, t: seen.append((s, p)), timeout=10
    )
    assert report.failure is None, report.failure
    assert ("app", "restarting, db-migrator is back") in seen, str(seen)  # the last it waited for


def test_a_dependant_that_crashes_again_once_its_dependencies_are_back_is_a_crash_loop(
    fake_apply, tmp_path: Path
) -> None:
    steps = _recreation(_crashing(5))
    again = [{**steps[-1], "app": _crashing(n, later=True)} for n in (6, 7)]
    engine = fake_apply(ComposeAtWork(_running_before(), [*steps, *again], hashes=DB_CHANGED, exit_events={}))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service == "app"
    assert report.failure.reason == "app keeps restarting (restarted 7 times, last exit code 1)"
    assert report.failure.down == ("app: restarting (last exit code 1)",)
    assert engine.up_done  # apply let Compose finish before it said so


def test_a_failure_while_compose_recreates_waits_for_compose_to_finish(fake_apply, tmp_path: Path) -> None:
    """A leaf app crash-loops while Compose still replaces the database: Compose is let
    finish (a recreate cut short leaves the new container created, never started)."""
    project = Project("demo", {s.name: s for s in (DB, MIGRATOR, APP, JOB)}, ["app_network"], [])
    before = {**_running_before(), "job": _crashing(0, "running")}
    crashing = [dataclasses.replace(before["job"], id="old-job", status="restarting", restart_count=n) for n in (1, 2)]
    steps = [{**step, "job": crashing[i % 2]} for i, step in enumerate(_recreation(_crashing(0, "running")))]
    engine = fake_apply(ComposeAtWork(before, steps, hashes=DB_CHANGED))
    report = _deploy.apply(tmp_path, needs(tmp_path, project), engine=engine)
    assert report.failure is not None and report.failure.service == "job"
    assert engine.up_done
    assert {s.name: s.phase for s in report.services}["db"] == "healthy"


def test_a_crash_loop_compose_waits_for_ends_apply_and_names_what_is_down(fake_apply, tmp_path: Path) -> None:
    """The new database crash-loops: Compose would wait for it for ever. apply stops after
    GRACE, and names the services that ran before and do not now, with what they wait for."""
    before = _running_before()
    new_db = state("db", "restarting", exit_code=1, created=soon(), finished=soon(), cid="new-db")
    new_app = state("app", "created", created=soon(), cid="new-app")
    steps = [
        {**before, "db": new_db, "app": new_app},
        {**before, "db": dataclasses.replace(new_db, restart_count=1), "app": new_app},
    ]
    engine = fake_apply(ComposeAtWork(before, steps, hashes=DB_CHANGED))
    engine.forever = True
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service == "db"
    assert report.failure.reason == "db keeps restarting (restarted 1 time, last exit code 1)"
    assert report.failure.down == (
        "db: restarting (last exit code 1)",
        "app: created, not started; waits for db (restarting)",
    )
    assert not engine.up_done  # Compose still waits: apply did not


def test_compose_up_failing_with_no_service_named_gives_the_engines_words(fake_apply, tmp_path: Path) -> None:
    error = RuntimeFailure("compose up of demo failed: network app_network is ambiguous")
    engine = fake_apply(ComposeAtWork(_running_before(), [], hashes=DB_CHANGED, up_error=error))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service is None
    assert report.failure.reason == "compose up of demo failed: network app_network is ambiguous"


@pytest.mark.parametrize(
    ("words", "hint"),
    [
        (
            'psql: error: connection to server at "db" (172.19.0.7), port 5432 failed: FATAL:  database "two" does '
            "not exist",
            "the postgres image creates POSTGRES_DB only when its data volume is first created",
        ),
        (
            "clockwork-migrate: ERROR: cannot connect: ERROR 1044 (42000): Access denied for user 'app'@'%' to "
            "database 'two'",
            "the mariadb/mysql images create MARIADB_DATABASE/MYSQL_DATABASE",
        ),
        (
            "clockwork-migrate: ERROR: cannot connect: ERROR 1049 (42000): Unknown database 'two'",
            "the mariadb/mysql images create MARIADB_DATABASE/MYSQL_DATABASE",
        ),
        (
            "ERROR 1045 (28000): Access denied for user 'app'@'172.19.0.5' (using password: YES)",
            "the mariadb/mysql images apply their *_PASSWORD variables only when",
        ),
        ('psql:/clockwork/migrations/002_b.sql:1: ERROR:  relation "items" does not exist', None),
    ],
    ids=["postgres-database", "mariadb-user-database", "mariadb-root-database", "mariadb-password", "migration-error"],
)
def test_a_database_renamed_on_an_old_volume_gets_its_own_hint(fake_apply, tmp_path: Path, words, hint) -> None:
    """Changing POSTGRES_DB after the first start failed with 'database "two" does not
    exist' and no hint; MariaDB's user was told to put its old password back."""
    failed = {
        "db": state("db", health="healthy"),
        "db-migrator": state("db-migrator", "exited", exit_code=1, finished=soon()),
    }
    engine = fake_apply(scripted([failed], hashes={}, log_text=words))
    report = _deploy.apply(tmp_path, needs(tmp_path), engine=engine)
    assert report.failure is not None and report.failure.service == "db-migrator"
    if hint is None:
        assert "hint:" not in report.failure.reason
    else:
        assert report.failure.reason.count("hint:") == 1 and hint in report.failure.reason
        assert "`clockwork destroy` (deletes the data)" in report.failure.reason
