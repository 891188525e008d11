"""`clockwork ps` and `clockwork logs` with the engine faked (tests/fakes.py): the table and
its JSON, the prefixes, unknown services, nothing running, another folder's containers,
bad --tail/--since, and a swarm's tasks on their nodes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes import FakeEngine
from typer.testing import CliRunner

from clockwork_compose import _cli, _docker
from clockwork_compose._docker import OWNER_LABEL, ContainerState, LogLine, LogOptions, SwarmService, SwarmTask
from clockwork_compose._model import ROLE_LABEL
from clockwork_compose._targets.swarm import observe

STARTED = datetime(2026, 12, 3, 5, 30, 1, 123456, tzinfo=UTC)
KEYS = ["service", "role", "state", "health", "ports", "image", "started", "nodes"]


def container(folder: Path, service: str, role: str, **fields: object) -> ContainerState:
    values: dict[str, object] = {
        "name": service,
        "service": service,
        "id": f"id-{service}",
        "status": "running",
        "health": None,
        "exit_code": 0,
        "created": STARTED,
        "started": STARTED,
        "project": folder.name,
        "working_dir": str(folder),
        "role": role,
        "image": f"{service}:1",
        **fields,
    }
    return ContainerState(**values)  # type: ignore[arg-type]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "cw-logsps-unit"
    made.mkdir()
    return made


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, folder: Path) -> FakeEngine:
    fake = FakeEngine(
        [
            container(folder, "web", "app", ports=("8000->80/tcp",)),
            container(folder, "db", "database", health="healthy", ports=("127.0.0.1:5432->5432/tcp",)),
            container(folder, "db-migrator", "migrator", status="exited"),
        ],
        log_lines=[
            LogLine("db", "ready to accept connections", "2026-12-03T05:30:02Z"),
            LogLine("web", "GET /health 200", "2026-12-03T05:30:03Z"),
            LogLine("web", "GET /health 200 again", "2026-12-03T05:30:04Z"),
        ],
    )
    monkeypatch.setattr(_docker, "DOCKER", fake)
    return fake


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_cli.app, list(args))
    return result.exit_code, result.stdout, result.stderr


# -- ps ---------------------------------------------------------------------------------------


def test_ps_lists_one_row_per_service_by_name(folder: Path, engine: FakeEngine) -> None:
    code, out, err = cli("ps", "-C", str(folder))
    assert code == 0, err
    assert out.splitlines() == [
        "SERVICE      ROLE      STATE       HEALTH   PORTS                     IMAGE          STARTED",
        "db           database  running     healthy  127.0.0.1:5432->5432/tcp  db:1           2026-12-03T05:30:01Z",
        "db-migrator  migrator  exited (0)  -        -                         db-migrator:1  2026-12-03T05:30:01Z",
        "web          app       running     -        8000->80/tcp              web:1          2026-12-03T05:30:01Z",
    ]
    assert err == ""


def test_ps_json_has_the_same_keys_in_a_stable_order(folder: Path, engine: FakeEngine) -> None:
    code, out, _ = cli("ps", "-C", str(folder), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [list(row) for row in rows] == [KEYS] * 3
    assert rows[0] == {
        "service": "db",
        "role": "database",
        "state": "running",
        "health": "healthy",
        "ports": ["127.0.0.1:5432->5432/tcp"],
        "image": "db:1",
        "started": "2026-12-03T05:30:01Z",
        "nodes": [],
    }
    assert [row["service"] for row in rows] == ["db", "db-migrator", "web"]
    assert rows[1]["health"] is None and rows[1]["state"] == "exited (0)"
    assert cli("ps", "-C", str(folder), "--json")[1] == out  # deterministic


def test_ps_with_nothing_running_says_so_and_exits_0(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_docker, "DOCKER", FakeEngine())
    code, out, err = cli("ps", "-C", str(folder))
    assert (code, out) == (0, "")
    assert err.strip() == (
        "nothing of this folder is on the engine: no container of project cw-logsps-unit (`clockwork apply` starts it)"
    )
    code, out, _ = cli("ps", "-C", str(folder), "--json")
    assert (code, json.loads(out)) == (0, [])


def test_ps_leaves_out_what_another_folder_of_the_same_name_brought_up(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere" / folder.name
    fake = FakeEngine([container(folder, "web", "app"), container(other, "db", "database", name="db2")])
    monkeypatch.setattr(_docker, "DOCKER", fake)
    code, out, err = cli("ps", "-C", str(folder), "--json")
    assert code == 0
    assert [row["service"] for row in json.loads(out)] == ["web"]
    assert err.strip() == f"left out: containers of project {folder.name} brought up from {other}, not from this folder"


def test_ps_on_kubernetes_is_refused_with_what_runs_it(folder: Path, engine: FakeEngine) -> None:
    code, _, err = cli("ps", "-C", str(folder), "--target", "kubernetes")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "kubectl" in err


# -- logs -------------------------------------------------------------------------------------


def test_logs_prefix_each_line_with_its_service(folder: Path, engine: FakeEngine) -> None:
    code, out, err = cli("logs", "-C", str(folder))
    assert code == 0, err
    assert out.splitlines() == [
        "db          | ready to accept connections",
        "web         | GET /health 200",
        "web         | GET /health 200 again",
    ]
    assert engine.logs_asked == [
        ({"db": "id-db", "db-migrator": "id-db-migrator", "web": "id-web"}, LogOptions(False, None, None))
    ]


def test_logs_of_named_services_with_tail_and_since(folder: Path, engine: FakeEngine) -> None:
    code, out, _ = cli("logs", "web", "-C", str(folder), "--tail", "1", "--since", "10m")
    assert code == 0
    assert out.splitlines() == ["web | GET /health 200 again"]
    assert engine.logs_asked == [({"web": "id-web"}, LogOptions(False, 1, "10m"))]


def test_an_unknown_service_is_one_line_naming_it_and_those_there_are(folder: Path, engine: FakeEngine) -> None:
    code, out, err = cli("logs", "wbe", "-C", str(folder))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "error: no service 'wbe' of this folder on cw-logsps-unit; its services: db, db-migrator, web"
    ]
    assert engine.logs_asked == []


def test_follow_ends_quietly_with_130_on_ctrl_c(folder: Path, engine: FakeEngine) -> None:
    code, out, err = cli("logs", "-f", "db", "-C", str(folder))
    assert code == 130
    assert out.splitlines() == ["db | ready to accept connections"]
    assert err == ""
    assert engine.logs_asked[0][1].follow


def test_logs_with_nothing_running_says_so_and_exits_0(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_docker, "DOCKER", FakeEngine())
    code, out, err = cli("logs", "web", "-C", str(folder))
    assert (code, out) == (0, "")
    assert err.startswith("nothing of this folder is on the engine: no container of project cw-logsps-unit")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tail", "-3"], "error: field '--tail': '-3' is not a number of lines; give a whole number (--tail 50)"),
        (["--tail", "ten"], "error: field '--tail': 'ten' is not a number of lines"),
        (["--since", "yesterday"], "error: field '--since': 'yesterday' is not a time; give a duration (--since 10m"),
    ],
)
def test_bad_tail_or_since_is_one_line_and_exit_2(
    folder: Path, engine: FakeEngine, args: list[str], message: str
) -> None:
    code, out, err = cli("logs", "-C", str(folder), *args)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith(message), err
    assert engine.logs_asked == []


@pytest.mark.parametrize("since", ["10m", "1h30m", "90s", "2026-12-03", "2026-12-03T10:00:00Z", "1764739200"])
def test_since_takes_what_docker_takes(folder: Path, engine: FakeEngine, since: str) -> None:
    assert cli("logs", "-C", str(folder), "--since", since)[0] == 0
    assert engine.logs_asked[-1][1].since == since


def test_tail_all_is_every_line(folder: Path, engine: FakeEngine) -> None:
    assert cli("logs", "-C", str(folder), "--tail", "all")[0] == 0
    assert engine.logs_asked[-1][1].tail is None


# -- swarm ------------------------------------------------------------------------------------


def task(slot: int, node: str, state: str, minute: int, desired: str = "running", code: int | None = None) -> SwarmTask:
    return SwarmTask(slot, node, state, desired, STARTED.replace(minute=minute), code)


def service(folder: Path | str, name: str, role: str, tasks: list[SwarmTask], **fields: object) -> SwarmService:
    values: dict[str, object] = {
        "id": f"id-{name}",
        "name": f"cw-logsps-unit_{name}",
        "labels": {OWNER_LABEL: str(folder), ROLE_LABEL: role},
        "image": f"{name}:1",
        "mode": "replicated",
        "replicas": 1,
        "healthcheck": False,
        "ports": (),
        "tasks": tuple(tasks),
        **fields,
    }
    return SwarmService(**values)  # type: ignore[arg-type]


@pytest.fixture
def swarm(monkeypatch: pytest.MonkeyPatch, folder: Path, tmp_path: Path) -> FakeEngine:
    fake = FakeEngine(
        services={
            "cw-logsps-unit": [
                service(
                    folder,
                    "worker",
                    "app",
                    [task(1, "node-a", "running", 31), task(2, "node-b", "running", 32)],
                    replicas=2,
                ),
                service(
                    folder,
                    "db",
                    "database",
                    [task(1, "node-a", "failed", 29, "shutdown", 1), task(1, "node-a", "running", 30)],
                    healthcheck=True,
                    ports=("*:5432->5432/tcp",),
                ),
                service(
                    folder,
                    "db-migrator",
                    "migrator",
                    [task(1, "node-b", "complete", 31, "complete", 0)],
                    mode="replicated-job",
                    replicas=None,
                ),
                service(tmp_path / "other", "api", "app", [task(1, "node-a", "running", 33)]),
            ]
        },
        log_lines=[LogLine("worker", "picked job 1", "2026-12-03T05:33:00Z")],
    )
    monkeypatch.setattr(_docker, "DOCKER", fake)
    return fake


def test_swarm_ps_shows_each_task_s_node_and_leaves_another_folder_s_services_out(
    folder: Path, swarm: FakeEngine, tmp_path: Path
) -> None:
    code, out, err = cli("ps", "-C", str(folder), "--target", "swarm")
    assert code == 0, err
    assert out.splitlines() == [
        "SERVICE      ROLE      STATE        HEALTH   PORTS             IMAGE          STARTED               NODES",
        "db           database  running      healthy  *:5432->5432/tcp  db:1           2026-12-03T05:30:01Z  node-a",
        "db-migrator  migrator  complete     -        -                 db-migrator:1  -                     node-b",
        "worker       app       running 2/2  -        -                 worker:1       2026-12-03T05:32:01Z  "
        "node-a, node-b",
    ]
    assert err.strip() == (
        f"left out: services of stack cw-logsps-unit deployed from {tmp_path / 'other'}, not from this folder"
    )
    rows = json.loads(cli("ps", "-C", str(folder), "--target", "swarm", "--json")[1])
    assert [list(row) for row in rows] == [KEYS] * 3
    assert rows[2]["nodes"] == ["node-a", "node-b"]


def test_swarm_ps_of_a_named_stack_with_nothing_in_it(folder: Path, swarm: FakeEngine) -> None:
    code, out, err = cli("ps", "-C", str(folder), "--target", "swarm", "--stack", "none-here")
    assert (code, out) == (0, "")
    assert "nothing of this folder is on the swarm: no service of stack none-here" in err


def test_swarm_logs_read_every_task_through_the_service(folder: Path, swarm: FakeEngine) -> None:
    code, out, err = cli("logs", "worker", "-C", str(folder), "--target", "swarm")
    assert code == 0, err
    assert out.splitlines() == ["worker | picked job 1"]
    assert swarm.service_logs_asked == [({"worker": "id-worker"}, LogOptions())]
    code, _, err = cli("logs", "api", "-C", str(folder), "--target", "swarm")
    assert code == 2
    assert err.strip() == (
        "error: no service 'api' of this folder on stack cw-logsps-unit; its services: db, db-migrator, worker"
    )


def test_a_swarm_service_short_of_replicas_says_what_its_newest_task_did(folder: Path) -> None:
    crashing = service(
        folder,
        "worker",
        "app",
        [task(1, "node-a", "running", 31), task(2, "node-b", "failed", 33, "shutdown", 3)],
        replicas=2,
        healthcheck=True,
    )
    tasks = observe.current(crashing)
    assert observe.state(crashing, tasks) == "failed (exit 3), 1/2 running"


# -- the door's own parsing -------------------------------------------------------------------


def test_published_ports_read_as_docker_ps_shows_them() -> None:
    ports = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8000"}, {"HostIp": "::", "HostPort": "8000"}],
        "5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5432"}],
        "6379/tcp": None,
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],
    }
    assert _docker.published(ports) == ("5353->53/udp", "8000->80/tcp", "127.0.0.1:5432->5432/tcp")
