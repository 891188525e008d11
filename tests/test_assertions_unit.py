"""`clockwork assert`'s checks without Docker: polling, the checks derived from the model,
and single attempts against a fake engine and local sockets."""

from __future__ import annotations

import dataclasses
import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fakes import FakeContainers

from clockwork_compose import _assertions
from clockwork_compose._assertions import Outcome, Probe
from clockwork_compose._docker import ContainerState
from clockwork_compose._engines import postgres
from clockwork_compose._model import (
    CommandCheck,
    DatabaseTarget,
    Healthcheck,
    Migrations,
    Port,
    Project,
    Role,
    SecretRef,
    Service,
)

# -- polling --------------------------------------------------------------------------------


def test_poll_retries_until_the_probe_passes() -> None:
    answers = iter([Outcome(False, "not yet"), Outcome(False, "not yet"), Outcome(True, "ok")])
    check = _assertions.poll(Probe("eventually", lambda: next(answers)), timeout=5, interval=0.01)
    assert check.passed and check.detail == "ok" and check.name == "eventually"


def test_poll_gives_up_at_the_timeout_with_the_last_detail() -> None:
    start = time.monotonic()
    check = _assertions.poll(Probe("never", lambda: Outcome(False, "still down")), timeout=0.2, interval=0.05)
    assert not check.passed and check.detail == "still down"
    assert time.monotonic() - start < 1


def test_a_final_failure_stops_polling() -> None:
    calls = []
    check = _assertions.poll(Probe("final", lambda: calls.append(1) or Outcome(False, "exit 1", final=True)), 10, 0.01)
    assert not check.passed and len(calls) == 1


def test_an_exception_is_a_failed_attempt() -> None:
    def boom() -> Outcome:
        raise ConnectionRefusedError("connection refused")

    check = _assertions.poll(Probe("boom", boom), timeout=0.05, interval=0.01)
    assert not check.passed and "connection refused" in check.detail


def test_run_keeps_probe_order_and_runs_concurrently() -> None:
    def slow(name: str) -> Probe:
        return Probe(name, lambda: time.sleep(0.2) or Outcome(True, name))

    start = time.monotonic()
    checks = _assertions.run([slow("a"), slow("b"), slow("c")], timeout=1)
    assert [c.name for c in checks] == ["a", "b", "c"]
    assert time.monotonic() - start < 0.5


# -- checks derived from the model ----------------------------------------------------------


def example_project() -> Project:
    db = Service(
        "postgres-db",
        role=Role.DATABASE,
        engine="postgres",
        ports=[Port(5432, 5432)],
        healthcheck=Healthcheck(CommandCheck(("true",)), 1, 3, 30),
    )
    migrator = Service("postgres-db-migrator", role=Role.MIGRATOR)
    api = Service(
        "api-server",
        ports=[Port(80, 8000)],
        assertions=[
            {"kind": "http_status", "url": "http://localhost:8000/health", "status": 200},
            {"kind": "database_query", "query": "SELECT 2", "url": None},
        ],
    )
    migrations = Migrations("postgres-db", "schema.sql", "migrations/", ("001_a.sql", "002_b.sql"))
    target = DatabaseTarget(
        "api-server",
        "postgres-db",
        "postgres",
        "DATABASE_URL",
        "admin",
        SecretRef("DB_PASSWORD"),
        "appdb",
        5432,
        5432,
        migrations,
    )
    return Project("demo", {s.name: s for s in (db, migrator, api)}, ["app_network"], [], databases=[target])


def test_builtin_and_user_checks_are_named() -> None:
    names = [p.name for p in _assertions.probes(example_project(), {"DB_PASSWORD": "s3cret"})]
    assert names == [
        "service api-server running",
        "service postgres-db healthy",
        "migrator postgres-db-migrator exited 0",
        "port 127.0.0.1:8000 (api-server) accepts TCP",
        "port 127.0.0.1:5432 (postgres-db) accepts TCP",
        "database postgres-db/appdb on 127.0.0.1:5432 reachable",
        "migrations of postgres-db recorded in clockwork_migrations",
        "api-server: GET http://localhost:8000/health answers 200",
        "api-server: query 'SELECT 2' succeeds",
    ]


def test_expected_versions_name_the_schema_and_every_migration() -> None:
    target = example_project().databases[0]
    assert _assertions.expected_versions(target) == ("schema:schema.sql", "001_a.sql", "002_b.sql")


def test_dsn_resolves_secrets_and_encodes_them() -> None:
    target = example_project().databases[0]
    assert postgres.dsn(target, {"DB_PASSWORD": "p@ss/word"}) == (
        "postgresql://admin:p%40ss%2Fword@127.0.0.1:5432/appdb"
    )


def test_an_unset_secret_is_a_failed_check_not_a_crash() -> None:
    probes = {p.name: p for p in _assertions.probes(example_project(), {})}
    check = _assertions.poll(probes["database postgres-db/appdb on 127.0.0.1:5432 reachable"], 0.05, 0.01)
    assert not check.passed and "DB_PASSWORD has no value" in check.detail


def test_migrations_recorded_lists_what_is_missing() -> None:
    sql = postgres.ENGINE.migrator.applied_sql()  # type: ignore[union-attr]
    asked = []

    def rows(query: str) -> list[tuple[object, ...]]:
        asked.append(query)
        return [("schema:schema.sql",), ("001_a.sql",)]

    outcome = _assertions.migrations_recorded(rows, ("schema:schema.sql", "001_a.sql", "002_b.sql"), sql)
    assert not outcome.passed and outcome.detail == "not recorded: 002_b.sql"
    assert asked == ["SELECT version FROM clockwork_migrations ORDER BY version"]
    assert _assertions.migrations_recorded(
        lambda q: [("001_a.sql",), ("002_b.sql",)], ("001_a.sql", "002_b.sql"), sql
    ).passed


def test_migrations_recorded_fails_on_an_applied_file_no_longer_in_the_plan() -> None:
    sql = postgres.ENGINE.migrator.applied_sql()  # type: ignore[union-attr]
    outcome = _assertions.migrations_recorded(lambda q: [("001_a.sql",), ("002_b.sql",)], ("002_b.sql",), sql)
    assert not outcome.passed
    assert outcome.detail == "applied but no longer in the migrations: 001_a.sql"


# -- container checks against a fake engine -------------------------------------------------


def one_container(name: str, found: ContainerState | None, log: str = "") -> FakeContainers:
    """The shared fake's containers: ``found`` as container ``name`` (None: there is none), and its logs."""
    return FakeContainers([dataclasses.replace(found, name=name)] if found else [], log_text=log)


def cs(status: str, health: str | None = None, exit_code: int = 0) -> ContainerState:
    return ContainerState("x", "x", "id", status, health, exit_code, None)


def test_container_running_needs_health_when_there_is_a_healthcheck() -> None:
    service = Service("db", healthcheck=Healthcheck(CommandCheck(("true",)), 1, 3, 3))
    starting = one_container("db", cs("running", "starting"))
    assert _assertions.container_running(service, starting) == Outcome(False, "running, health starting")
    assert _assertions.container_running(service, one_container("db", cs("running", "healthy"))).passed


def test_stopped_container_fails() -> None:
    stopped = one_container("db", cs("exited", exit_code=137))
    assert _assertions.container_running(Service("db"), stopped) == Outcome(False, "exited (exit code 137)")
    assert _assertions.container_running(Service("db"), one_container("db", None)) == Outcome(False, "no container")


def test_failed_migrator_is_final_and_quotes_its_last_line() -> None:
    engine = one_container("db-migrator", cs("exited", exit_code=1), log="clockwork-migrate: FAILED 004_x.sql")
    outcome = _assertions.migrator_done("db-migrator", engine)
    assert outcome == Outcome(False, "exited 1: clockwork-migrate: FAILED 004_x.sql", final=True)


def test_probes_ask_the_engine_they_are_given() -> None:
    project = Project("demo", {"db": Service("db")}, [], [])
    (probe,) = _assertions.probes(project, {}, engine=one_container("db", cs("exited", exit_code=137)))
    assert probe.name == "service db running"
    assert probe.attempt() == Outcome(False, "exited (exit code 137)")


# -- TCP and HTTP against local servers -----------------------------------------------------


@pytest.fixture
def listening() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def test_tcp_open(listening: int) -> None:
    assert _assertions.tcp_open("127.0.0.1", listening).passed


def test_tcp_closed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = _assertions.tcp_open("127.0.0.1", port)
    assert not outcome.passed and outcome.detail


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_status(http_server: str) -> None:
    assert _assertions.http_status(f"{http_server}/health", 200) == Outcome(True, "status 200")
    assert _assertions.http_status(f"{http_server}/missing", 200) == Outcome(False, "status 404")
    assert _assertions.http_status(f"{http_server}/missing", 404).passed


# -- DatabaseQuery(url=...): the engine the scheme names -------------------------------------


def mariadb_project() -> Project:
    db = Service(name="shop-db", image="mariadb:11", engine="mariadb", ports=[Port(3306, 15901)])
    api = Service(name="api", image="shop:1")
    return Project("demo", {s.name: s for s in (db, api)}, ["app_network"], [])


def url_probe(url: str, exec_in: object = None) -> Probe:
    spec = {"kind": "database_query", "query": "SELECT 7", "url": url}
    project = mariadb_project()
    return _assertions._user_probe(project.services["api"], project, {}, spec, exec_in)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("mysql://shop:p%40ss@shop-db:3306/shop", "3306"),  # the service's name, its own port
        ("mariadb://shop:p%40ss@127.0.0.1:15901/shop", "3306"),  # the published port on the host
    ],
)
def test_a_mysql_url_runs_the_image_s_client_in_the_service_it_reaches(url: str, port: str) -> None:
    calls: list[tuple[str, list[str], dict[str, str]]] = []

    def exec_in(name: str, argv: list[str], env: dict[str, str]) -> str:
        calls.append((name, list(argv), dict(env)))
        return "7\n"

    outcome = url_probe(url, exec_in).attempt()
    assert outcome == Outcome(True, "1 row(s), first: 7")
    ((name, argv, env),) = calls
    assert name == "shop-db"
    assert argv[argv.index("-P") + 1] == port and argv[argv.index("-u") + 1] == "shop"
    assert "--database=shop" in argv and argv[-2:] == ["-e", "SELECT 7"]
    assert env == {"MYSQL_PWD": "p@ss"}  # the password never on the command line


def test_a_mysql_url_to_no_service_of_the_project_says_how_to_reach_one() -> None:
    outcome = _assertions._attempt(url_probe("mysql://u:p@elsewhere:3306/x", lambda *a: ""))
    assert not outcome.passed
    assert outcome.detail.startswith("elsewhere:3306 is no mariadb service of this project (shop-db)")


def test_a_postgres_url_goes_to_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(postgres, "query_url", lambda url, sql: seen.append(url) or [(1,)])
    assert url_probe("postgresql://u:p@127.0.0.1:5432/x").attempt().passed
    assert url_probe("postgres://u:p@127.0.0.1:5432/x").attempt().passed
    assert seen == ["postgresql://u:p@127.0.0.1:5432/x", "postgres://u:p@127.0.0.1:5432/x"]


def test_an_unknown_scheme_fails_at_once_naming_the_fix_and_never_the_url() -> None:
    check = _assertions.poll(url_probe("redis://:secret-pw@127.0.0.1:6379/0"), timeout=30)
    assert not check.passed and check.seconds < 30
    assert check.detail.startswith("the url has scheme redis://, which names no engine clockwork can query")
    assert "postgresql://" in check.detail and "mysql://" in check.detail
    assert "secret-pw" not in check.detail
