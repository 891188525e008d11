"""The checks of `clockwork assert`, as data.

A ``Probe`` is one named, repeatable attempt at a check; ``run`` polls every probe
(concurrently) until it passes, says its failure is final, or the timeout passes, and
returns one ``Check`` per probe: name, passed, detail, seconds. ``probes`` derives them from
the model: the built-in checks implied by the declarations, then the user's assertions.

Container states and logs come from the engine ``probes`` is given (``_docker.DOCKER``
unless a unit test passes a fake); TCP and HTTP are tried from the host. SQL goes
the way the database's engine says (:meth:`_engines.Engine.query`: postgres through its
published port, others through their image's own client in the container).
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import _docker
from ._engines import engine_for_url, engine_named, unknown_scheme
from ._engines._engine import ExecIn, Row
from ._model import DatabaseTarget, Project, Role, Service

INTERVAL = 0.5
ATTEMPT_TIMEOUT = 2.0
HOST = "127.0.0.1"
SCHEMA_PREFIX = "schema:"
#: Runs one SQL query and returns its rows.
Query = Callable[[str], list[Row]]


@dataclass(frozen=True)
class Outcome:
    passed: bool
    detail: str
    #: A failure that waiting cannot fix (a one-shot exited non-zero): stop polling.
    final: bool = False


@dataclass(frozen=True)
class Probe:
    name: str
    attempt: Callable[[], Outcome]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    seconds: float


# -- running --------------------------------------------------------------------------------


def run(probes: Sequence[Probe], timeout: float, interval: float = INTERVAL) -> list[Check]:
    """Poll every probe until it passes or ``timeout`` seconds pass; results in probe order."""
    if not probes:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(probes)), thread_name_prefix="assert") as pool:
        return list(pool.map(lambda p: poll(p, timeout, interval), probes))


def poll(probe: Probe, timeout: float, interval: float = INTERVAL) -> Check:
    start = time.monotonic()
    while True:
        outcome = _attempt(probe)
        elapsed = time.monotonic() - start
        if outcome.passed or outcome.final or elapsed + interval > timeout:
            return Check(probe.name, outcome.passed, outcome.detail, round(elapsed, 2))
        time.sleep(interval)


def _attempt(probe: Probe) -> Outcome:
    try:
        return probe.attempt()
    except Exception as exc:  # a failed attempt is a detail to report, never a crash
        return Outcome(False, _one_line(exc))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# -- what to check --------------------------------------------------------------------------


def probes(
    project: Project,
    env: Mapping[str, str],
    exec_in: ExecIn | None = None,
    engine: _docker.Containers = _docker.DOCKER,
) -> list[Probe]:
    """Built-in checks (services, migrators, published ports, databases), then user assertions.

    ``env`` resolves secrets (SecretRef) in database credentials; ``exec_in`` runs a client
    in a service's container (default: the Compose container named after the service,
    through ``engine``); ``engine`` answers the containers' states and logs."""
    exec_in = exec_in or _exec_in(engine, {s.name: s.container for s in project.ordered()})
    out: list[Probe] = []
    for service in project.ordered():
        if service.role is Role.MIGRATOR:
            out.append(Probe(f"migrator {service.name} exited 0", lambda s=service: migrator_done(s.container, engine)))
        else:
            out.append(Probe(_running_name(service), lambda s=service: container_running(s, engine)))
    for service in project.ordered():
        for port in service.ports:
            if port.host is not None and port.protocol == "tcp":
                out.append(
                    Probe(
                        f"port {HOST}:{port.host} ({service.name}) accepts TCP", lambda p=port.host: tcp_open(HOST, p)
                    )
                )
    for target in _distinct_databases(project):
        out.extend(_database_probes(target, env, exec_in))
    for service in project.ordered():
        out.extend(_user_probe(service, project, env, spec, exec_in, engine) for spec in service.assertions)
    return out


def _running_name(service: Service) -> str:
    return f"service {service.name} {'healthy' if service.healthcheck else 'running'}"


def _distinct_databases(project: Project) -> list[DatabaseTarget]:
    seen: dict[tuple[str, str], DatabaseTarget] = {}
    for target in project.databases:
        engine = engine_named(target.engine)
        if engine is not None and engine.queryable(target):
            seen.setdefault((target.service, str(target.database)), target)
    return list(seen.values())


def _exec_in(engine: _docker.Containers, containers: Mapping[str, str] | None = None) -> ExecIn:
    """Run in the container of the service ``name`` (``containers``: service -> container name)."""
    return lambda name, argv, env: engine.exec_in((containers or {}).get(name, name), argv, env=env)


def _engine_query(target: DatabaseTarget, env: Mapping[str, str], exec_in: ExecIn | None = None) -> Query:
    """SQL on the target's database, the way its engine reaches it from the host."""
    engine = engine_named(target.engine)
    if engine is None:
        raise LookupError(f"{target.service} runs no engine clockwork can query: give the assertion a url")
    return lambda sql: engine.query(target, env, sql, exec_in or _exec_in(_docker.DOCKER))


def _database_probes(target: DatabaseTarget, env: Mapping[str, str], exec_in: ExecIn | None = None) -> list[Probe]:
    engine = engine_named(target.engine)
    assert engine is not None  # _distinct_databases keeps known engines only
    query = _engine_query(target, env, exec_in)
    out = [Probe(f"database {engine.where(target)} reachable", lambda: database_query(query, "SELECT 1"))]
    if target.migrations is not None and engine.migrator is not None:
        expected = expected_versions(target)
        sql = engine.migrator.applied_sql()
        out.append(
            Probe(
                f"migrations of {target.service} recorded in {engine.migrator.history_table}",
                lambda: migrations_recorded(query, expected, sql),
            )
        )
    return out


def expected_versions(target: DatabaseTarget) -> tuple[str, ...]:
    """The record names the migrator writes: ``schema:<basename>``, then each migration's
    (the file's name; a sqitch change's name), in the plan's order."""
    migrations = target.migrations
    if migrations is None:
        return ()
    if migrations.plan is not None:
        return migrations.plan.versions
    schema = (f"{SCHEMA_PREFIX}{migrations.schema_file.rsplit('/', 1)[-1]}",) if migrations.schema_file else ()
    return (*schema, *migrations.migration_files)


def _user_probe(
    service: Service,
    project: Project,
    env: Mapping[str, str],
    spec: Mapping[str, object],
    exec_in: ExecIn | None = None,
    engine: _docker.Containers = _docker.DOCKER,
) -> Probe:
    kind = spec.get("kind")
    if kind == "container_running":
        return Probe(f"{service.name}: container running", lambda: container_running(service, engine))
    if kind == "http_status":
        url, status = str(spec["url"]), int(spec.get("status", 200))  # type: ignore[call-overload]
        return Probe(f"{service.name}: GET {url} answers {status}", lambda: http_status(url, status))
    if kind == "tcp_port":
        host, port = str(spec.get("host", HOST)), int(spec["port"])  # type: ignore[call-overload]
        return Probe(f"{service.name}: {host}:{port} accepts TCP", lambda: tcp_open(host, port))
    if kind == "database_query":
        query = str(spec.get("query") or "SELECT 1")
        url = spec.get("url")
        name = f"{service.name}: query {query!r} succeeds"
        if url and engine_for_url(str(url)) is None:
            return Probe(name, lambda: Outcome(False, "; ".join(unknown_scheme(str(url))), final=True))
        run: Query = (
            _url_query(str(url), project, exec_in)
            if url
            else (lambda sql: _own_database(service, project, env, exec_in)(sql))
        )
        return Probe(name, lambda: database_query(run, query))
    return Probe(f"{service.name}: {kind}", lambda: Outcome(False, f"unknown assertion kind {kind!r}", final=True))


def _url_query(url: str, project: Project, exec_in: ExecIn | None) -> Query:
    """SQL on the database ``url`` names, through the engine its scheme names."""
    engine = engine_for_url(url)
    assert engine is not None  # an unknown scheme is a probe that fails at once
    return lambda sql: engine.query_url(url, sql, project, exec_in or _exec_in(_docker.DOCKER))


def _own_database(service: Service, project: Project, env: Mapping[str, str], exec_in: ExecIn | None = None) -> Query:
    """The database of a database resource, or the one an app connects to."""
    for target in project.databases:
        if target.service == service.name or target.consumer == service.name:
            return _engine_query(target, env, exec_in)
    raise LookupError(f"{service.name} has no DatabaseConnection: give DatabaseQuery a url")


# -- single attempts ------------------------------------------------------------------------


def container_running(service: Service, engine: _docker.Containers = _docker.DOCKER) -> Outcome:
    state = engine.container(service.container)
    if state is None:
        return Outcome(False, "no container")
    if state.status != "running":
        return Outcome(False, f"{state.status} (exit code {state.exit_code})")
    if service.healthcheck is not None and state.health != "healthy":
        return Outcome(False, f"running, health {state.health or 'unknown'}")
    return Outcome(True, f"running{', healthy' if state.health == 'healthy' else ''}")


def migrator_done(name: str, engine: _docker.Containers = _docker.DOCKER) -> Outcome:
    state = engine.container(name)
    if state is None:
        return Outcome(False, "no container")
    if state.status != "exited":
        return Outcome(False, state.status)
    if state.exit_code != 0:
        last = engine.logs(name, tail=1)
        return Outcome(False, f"exited {state.exit_code}" + (f": {last}" if last else ""), final=True)
    return Outcome(True, "exited 0")


#: How long a connection must stay open to count as accepted by a process: Docker's port
#: proxy accepts on the host even when nothing listens in the container, then resets or
#: closes the connection at once (well within this).
LISTENER_WAIT = 0.3


def tcp_open(host: str, port: int) -> Outcome:
    """Passes when a process accepts the connection: it stays open for LISTENER_WAIT (most
    servers wait for the client to speak) or the server speaks first; a reset or an
    immediate close is the port proxy saying nothing listens behind it."""
    try:
        connection = socket.create_connection((host, port), timeout=ATTEMPT_TIMEOUT)
    except (ConnectionResetError, ConnectionAbortedError) as exc:
        return _reset(exc)  # accepted, then reset before connect() returned: the same reset
    except OSError as exc:
        return Outcome(False, exc.strerror or str(exc))
    with connection:
        connection.settimeout(LISTENER_WAIT)
        try:
            data = connection.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            return Outcome(True, "connected, held open")
        except OSError as exc:
            return _reset(exc)
    if not data:
        return Outcome(False, "closed at once: published, but nothing listens in the container")
    return Outcome(True, "connected, the server spoke first")


def _reset(exc: OSError) -> Outcome:
    return Outcome(False, f"{exc.strerror or exc} at once: published, but nothing listens in the container")


def http_status(url: str, expected: int) -> Outcome:
    try:
        with urllib.request.urlopen(url, timeout=ATTEMPT_TIMEOUT) as response:  # noqa: S310 (user's URL)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        return Outcome(False, _one_line(getattr(exc, "reason", exc)))  # type: ignore[arg-type]
    return Outcome(status == expected, f"status {status}")


def database_query(run: Query, query: str) -> Outcome:
    rows = run(query)
    first = rows[0][0] if rows and rows[0] else None
    return Outcome(True, f"{len(rows)} row(s)" + (f", first: {str(first)[:60]}" if first is not None else ""))


def migrations_recorded(run: Query, expected: Sequence[str], sql: str) -> Outcome:
    """Passes when the applied record names ``sql`` returns are exactly the expected ones:
    a file not applied yet fails, and so does an applied one that is no longer in the plan
    (deleted or renamed: the database holds what no file says any more)."""
    rows = run(sql)
    recorded = {str(r[0]) for r in rows}
    missing = [v for v in expected if v not in recorded]
    unknown = sorted(recorded - set(expected))
    problems = []
    if missing:
        problems.append(f"not recorded: {', '.join(missing)}")
    if unknown:
        problems.append(f"applied but no longer in the migrations: {', '.join(unknown)}")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, f"{len(expected)} of {len(expected)} recorded")
