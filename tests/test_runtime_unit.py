"""The runtime seam without Docker: error translation, Compose checks, and apply's waiting
logic driven by a fake ``_runtime`` (containers, compose up, logs)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from python_on_whales.exceptions import DockerException

from clockwork_compose import _deploy, _runtime
from clockwork_compose._errors import EngineUnavailable, RuntimeFailure
from clockwork_compose._model import Condition, Dependency, Healthcheck, Project, Role, Service
from clockwork_compose._runtime import ContainerState, EngineInfo

NOW = datetime.now(UTC)


def docker_error(stderr: str, code: int = 1) -> DockerException:
    return DockerException(["docker", "compose", "up"], code, b"", stderr.encode())


# -- error translation ----------------------------------------------------------------------


def test_engine_failure_keeps_stderr_and_chains() -> None:
    with pytest.raises(RuntimeFailure) as info, _runtime._translated("compose up of demo"):
        raise docker_error("Error response from daemon: Bind for 0.0.0.0:5432 failed: port is already allocated")
    assert "port is already allocated" in str(info.value)
    assert "compose up of demo failed" in str(info.value)
    assert isinstance(info.value.__cause__, DockerException)
    assert not isinstance(info.value, EngineUnavailable)


def test_no_daemon_is_engine_unavailable_with_fix() -> None:
    with pytest.raises(EngineUnavailable) as info, _runtime._translated("checking the Docker engine"):
        raise docker_error("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the daemon running?")
    assert "scripts/provision-docker.sh" in str(info.value)
    assert "Cannot connect to the Docker daemon" in str(info.value)


def test_missing_cli_is_engine_unavailable() -> None:
    with pytest.raises(EngineUnavailable, match="provision-docker"), _runtime._translated("checking"):
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
    assert _runtime.without_progress(text) == 'service "postgres-db-migrator" didn\'t complete successfully: exit 1'


def test_without_progress_keeps_text_that_is_all_progress() -> None:
    assert _runtime.without_progress(" Container a  Started") == "Container a  Started"


# -- engine and Compose versions ------------------------------------------------------------


V2 = "Docker Compose version v2.26.1-4"


def fake_client(monkeypatch: pytest.MonkeyPatch, server: str | None = "20.10.24", compose: object = V2) -> None:
    def compose_version() -> str:
        if isinstance(compose, Exception):
            raise compose
        return str(compose)

    version = SimpleNamespace(server=SimpleNamespace(version=server, api_version="1.41") if server else None)
    client = SimpleNamespace(version=lambda: version, compose=SimpleNamespace(version=compose_version))
    monkeypatch.setattr(_runtime, "_client", lambda project=None: client)


def test_engine_info_reads_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_client(monkeypatch)
    assert _runtime.engine_info() == EngineInfo("20.10.24", "1.41", "2.26.1-4")


def test_compose_v1_is_refused_with_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_client(monkeypatch, compose="docker-compose version 1.29.2, build unknown")
    with pytest.raises(EngineUnavailable, match="not v2.*provision-docker"):
        _runtime.engine_info()


def test_missing_compose_plugin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_client(monkeypatch, compose=docker_error("docker: 'compose' is not a docker command."))
    with pytest.raises(EngineUnavailable, match="Compose v2.*missing.*not a docker command"):
        _runtime.engine_info()


def test_no_server_is_engine_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_client(monkeypatch, server=None)
    with pytest.raises(EngineUnavailable, match="no Docker engine answers"):
        _runtime.engine_info()


def test_api_version_comparison() -> None:
    info = EngineInfo("20.10.24", "1.41", "2.26.1")
    assert _runtime.api_version_at_least(info, "1.41")
    assert not _runtime.api_version_at_least(info, "1.44")


def test_logs_are_sorted_by_time_with_trimmed_fractions() -> None:
    lines = ["2026-01-01T00:00:01.5Z b", "2026-01-01T00:00:01.123456789Z a", "2026-01-01T00:00:02Z c"]
    ordered = [_runtime._untimed(line) for line in sorted(lines, key=_runtime._log_time)]
    assert ordered == ["a", "b", "c"]


# -- phases and the deadline ----------------------------------------------------------------


def state(
    name: str,
    status: str = "running",
    health: str | None = None,
    exit_code: int = 0,
    finished: datetime | None = None,
    cid: str | None = None,
) -> ContainerState:
    return ContainerState(name, name, cid or f"id-{name}", status, health, exit_code, NOW, finished)


DB = Service("db", role=Role.DATABASE, healthcheck=Healthcheck(("CMD", "true"), 1.0, 3.0, 30))
MIGRATOR = Service(
    "db-migrator", role=Role.MIGRATOR, restart="no", depends_on={"db": Dependency("db", Condition.HEALTHY)}
)
APP = Service("app", depends_on={"db-migrator": Dependency("db-migrator", Condition.COMPLETED)})


@pytest.mark.parametrize(
    ("service", "container", "expected"),
    [
        (DB, None, "waiting"),
        (DB, state("db", "created"), "waiting"),
        (DB, state("db", health="starting"), "starting"),
        (DB, state("db", health="healthy"), "healthy"),
        (DB, state("db", health="unhealthy"), "unhealthy"),
        (APP, state("app"), "running"),
        (APP, state("app", "restarting"), "restarting"),
        (MIGRATOR, state("db-migrator", "exited", finished=NOW), "migrated"),
        (MIGRATOR, state("db-migrator", "exited", exit_code=1, finished=NOW), "failed"),
        (APP, state("app", "exited", finished=NOW), "completed"),
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
    assert _deploy.deadline_seconds(project()) == 30 + _deploy.MARGIN


def test_dependency_order() -> None:
    assert _deploy.dependency_order(project()) == ["db", "db-migrator", "app"]


# -- apply's waiting loop, against a fake runtime -------------------------------------------


class FakeEngine:
    """Plays a scripted sequence of container snapshots; compose up ends with ``up_error``."""

    def __init__(
        self, snapshots: list[dict[str, ContainerState]], up_error: Exception | None = None, up_seconds: float = 0.0
    ) -> None:
        self.snapshots = snapshots
        self.up_error = up_error
        self.up_seconds = up_seconds
        self.calls = 0
        self.lock = threading.Lock()

    def containers(self, name: str, include_oneoff: bool = False) -> dict[str, ContainerState]:
        with self.lock:
            snapshot = self.snapshots[min(self.calls, len(self.snapshots) - 1)]
            self.calls += 1
            return snapshot

    def compose_up(self, compose: _runtime.ComposeProject, **_: object) -> str:
        time.sleep(self.up_seconds)
        if self.up_error:
            raise self.up_error
        return ""


@pytest.fixture
def fake_apply(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def install(engine: FakeEngine) -> FakeEngine:
        built = SimpleNamespace(project=project(), path=tmp_path / "docker-compose.yml")
        monkeypatch.setattr(_runtime, "engine_info", lambda: EngineInfo("20.10", "1.41", "2.26"))
        monkeypatch.setattr(_runtime, "containers", engine.containers)
        monkeypatch.setattr(_runtime, "compose_up", engine.compose_up)
        monkeypatch.setattr(_runtime, "logs", lambda name, tail=20, since=None: f"last lines of {name}")
        monkeypatch.setattr(_deploy._api, "build", lambda project_dir: built)
        monkeypatch.setattr(_deploy._envfile, "require", lambda project, folder: [])
        monkeypatch.setattr(_deploy, "POLL", 0.01)
        monkeypatch.setattr(_deploy, "GRACE", 0.05)
        return engine

    return install


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
    fake_apply(FakeEngine([{}, {"db": state("db", health="starting")}, healthy()]))
    seen: list[tuple[str, str]] = []
    report = _deploy.apply(tmp_path, on_progress=lambda s, p, t: seen.append((s, p)))
    assert report.ok
    assert ("db", "starting") in seen and ("db", "healthy") in seen
    assert ("db-migrator", "migrated") in seen
    assert [s.change for s in report.services] == ["created", "created", "created"]


def test_second_apply_reports_unchanged_containers(fake_apply, tmp_path: Path) -> None:
    fake_apply(FakeEngine([healthy()]))
    report = _deploy.apply(tmp_path)
    assert {s.change for s in report.services} == {"unchanged"}


def test_recreated_container_is_reported(fake_apply, tmp_path: Path) -> None:
    before = healthy()
    after = {**before, "app": state("app", cid="new-id")}
    fake_apply(FakeEngine([before, after]))
    report = _deploy.apply(tmp_path)
    assert {s.name: s.change for s in report.services}["app"] == "recreated"


def test_failed_migrator_names_it_with_logs_and_engine_error(fake_apply, tmp_path: Path) -> None:
    failed = {
        "db": state("db", health="healthy"),
        "db-migrator": state("db-migrator", "exited", exit_code=1, finished=soon()),
        "app": state("app", "created"),
    }
    fake_apply(FakeEngine([failed], up_error=RuntimeFailure('service "db-migrator" didn\'t complete successfully')))
    report = _deploy.apply(tmp_path)
    assert not report.ok and report.failure is not None
    assert report.failure.service == "db-migrator"
    assert "exit code 1" in report.failure.reason and "didn't complete successfully" in report.failure.reason
    assert report.failure.logs == "last lines of db-migrator"
    assert {s.name: s.phase for s in report.services}["app"] == "waiting"


def test_engine_error_without_failed_container_names_the_service(fake_apply, tmp_path: Path) -> None:
    error = RuntimeFailure("driver failed programming external connectivity on endpoint db: port is already allocated")
    fake_apply(FakeEngine([{"db": state("db", "created")}], up_error=error))
    report = _deploy.apply(tmp_path)
    assert report.failure is not None and report.failure.service == "db"
    assert "port is already allocated" in report.failure.reason


def test_crashing_leaf_service_fails_even_when_compose_up_succeeded(fake_apply, tmp_path: Path) -> None:
    fake_apply(FakeEngine([{**healthy(), "app": state("app", "restarting", exit_code=3)}]))
    report = _deploy.apply(tmp_path)
    assert report.failure is not None and report.failure.service == "app"
    assert "keeps restarting" in report.failure.reason


def test_timeout_names_what_it_waited_for(fake_apply, tmp_path: Path) -> None:
    fake_apply(FakeEngine([{"db": state("db", health="starting")}], up_seconds=5))
    report = _deploy.apply(tmp_path, timeout=0.2)
    assert report.failure is not None
    assert report.failure.service == "db"
    assert "timed out" in report.failure.reason and "db, db-migrator, app" in report.failure.reason
