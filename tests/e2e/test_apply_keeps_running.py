"""Apply never leaves a service down (issue 16, items 9-11), on the real engine.

- The three examples, each applied once: every resource in turn gets a new `env_vars`
  entry and one `clockwork apply`. Each apply exits 0 with every container as it should be
  (running, healthy where it has a probe; the migrator exited 0), the change in the
  container, and the data kept (rows, a Redis key, a queued RabbitMQ message). A changed
  broker or database makes its dependant crash-loop while Compose replaces it: that is not
  a failure of the dependant. connected-services runs under its own names (the example
  lock); mariadb-app and rabbitmq-worker under names and host ports of our own (up-*, 162xx).
- Projects of our own (up-*, host ports 162xx): a dependency that crash-loops after a
  change names itself with the exit code the engine recorded (4, not the 0 it shows while
  it runs again) and names what was running before and is not now; a port taken by another
  container gives the engine's own error and names the service it left created; an
  unhealthy HttpProbe says what it printed. (A crash loop's exit code on a first apply:
  test_readiness.)
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import NETWORK, REPO, Run, Stack, clean_slate, clockwork, copy_example, example_lock, query

from clockwork_compose import _docker

pytestmark = pytest.mark.e2e

#: The example's worker image: python3, a shell and curl in it.
APP_IMAGE = "connected-services-worker-service"
HEADER = "from clockwork_compose import *  # noqa: F403\n"


def change_env(folder: Path, resource: str, value: str) -> None:
    """Add (or set) env_vars["UP_CHANGE"] on one resource of main.py, as a user edit would."""
    with (folder / "main.py").open("a") as main:
        main.write(
            "\nnext(r for r in list(globals().values()) if isinstance(r, DockerResource) "
            f'and r.name == "{resource}").env_vars["UP_CHANGE"] = "{value}"\n'
        )


def everything_up(project: str, expected: set[str]) -> dict[str, str]:
    """Each container of the project as `status[/health]`; asserts each is what it should
    be: a migrator exited 0, everything else running and healthy where it has a probe."""
    states = _docker.containers(project)
    assert set(states) == expected, sorted(states)
    seen = {name: s.status + (f"/{s.health}" if s.health else "") for name, s in states.items()}
    for s in states.values():
        if s.role == "migrator":
            assert (s.status, s.exit_code) == ("exited", 0), seen
        else:
            assert s.status == "running" and s.health in (None, "healthy"), seen
    return seen


def applied(folder: Path) -> Run:
    result = clockwork("apply", cwd=folder)
    assert result.code == 0, result.text
    assert "apply failed" not in result.err and "running before this apply, not now" not in result.err
    return result


def change_line(result: Run, service: str) -> str:
    """The summary line apply printed for ``service``."""
    return next(line for line in result.err.splitlines() if re.match(rf"^  {re.escape(service)}\s+\w+\s", line))


# -- connected-services ------------------------------------------------------------------------


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Stack]:
    with example_lock():
        clean_slate()
        try:
            yield copy_example(tmp_path)
        finally:
            clean_slate()


def test_connected_services_each_env_change_reapplies_with_everything_up(example: Stack) -> None:
    applied(example.dir)
    query("INSERT INTO users (username, email) VALUES ('up', 'up@example.test')")
    migrations = query("SELECT version, checksum, applied_at FROM clockwork_migrations ORDER BY version")
    _docker.exec_in("redis-cache", ["redis-cli", "SET", "up-key", "kept"])
    services = {"postgres-db", "redis-cache", "api-server", "worker-service", "postgres-db-migrator"}
    for n, resource in enumerate(["postgres-db", "redis-cache", "api-server", "worker-service"], 1):
        change_env(example.dir, resource, str(n))
        result = applied(example.dir)
        assert "recreated" in change_line(result, resource), result.err
        assert engine_support.container_env(resource)["UP_CHANGE"] == str(n)
        everything_up("connected-services", services)
        assert query("SELECT username FROM users WHERE email = 'up@example.test'") == [("up",)], resource
        assert query("SELECT version, checksum, applied_at FROM clockwork_migrations ORDER BY version") == migrations
        assert _docker.exec_in("redis-cache", ["redis-cli", "GET", "up-key"]) == "kept", resource
        with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=10) as response:  # noqa: S310
            assert json.loads(response.read()) == {"status": "ok", "database": "ok", "redis": "ok"}


# -- mariadb-app and rabbitmq-worker under names of our own ----------------------------------------


def own_copy(tmp_path: Path, example: str, folder: str, renames: dict[str, str], env: str) -> Path:
    """The example's folder under another name, with ``renames`` applied to main.py."""
    target = tmp_path / folder
    shutil.copytree(REPO / "examples" / example, target, ignore=shutil.ignore_patterns(".env", "docker-compose.yml"))
    main = (target / "main.py").read_text()
    for old, new in renames.items():
        assert old in main, old
        main = main.replace(old, new)
    (target / "main.py").write_text(main)
    (target / ".env").write_text(env)
    return target


@pytest.fixture
def own(tmp_path: Path) -> Iterator[list[Path]]:
    """Folders of our own projects; what they made is force-removed afterwards, also on
    failure (by their project labels: `destroy` is tested elsewhere, and stopping a broker
    or a `sleep` takes seconds)."""
    folders: list[Path] = []
    try:
        yield folders
    finally:
        engine_support.remove_leftovers(projects=[f.name for f in folders], networks=(NETWORK,))


def http(method: str, url: str) -> object:
    request = urllib.request.Request(url, method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def test_mariadb_app_each_env_change_reapplies_with_everything_up(tmp_path: Path, own: list[Path]) -> None:
    renames = {
        'name="shop-db"': 'name="up-shop-db"',
        'name="shop-api"': 'name="up-shop-api"',
        '"3306:3306"': '"127.0.0.1:16230:3306"',
        '"8080:80"': '"127.0.0.1:16231:80"',
    }
    env = "DB_PASSWORD='up shop pw'\nDB_ROOT_PASSWORD='up root pw'\n"  # pragma: allowlist secret
    folder = own_copy(tmp_path, "mariadb-app", "up-shop", renames, env)
    own.append(folder)
    applied(folder)
    item = http("POST", "http://127.0.0.1:16231/items?name=kept&price_cents=7")
    for n, resource in enumerate(["up-shop-db", "up-shop-api"], 1):
        change_env(folder, resource, str(n))
        result = applied(folder)
        assert "recreated" in change_line(result, resource), result.err
        assert engine_support.container_env(resource)["UP_CHANGE"] == str(n)
        everything_up("up-shop", {"up-shop-db", "up-shop-api", "up-shop-db-migrator"})
        assert item in http("GET", "http://127.0.0.1:16231/items"), resource  # type: ignore[operator]


def test_rabbitmq_worker_each_env_change_reapplies_with_everything_up(tmp_path: Path, own: list[Path]) -> None:
    renames = {
        'name="rabbitmq"': 'name="up-rabbitmq"',
        'name="rabbitmq-worker"': 'name="up-rabbitmq-worker"',
        '"15672:15672"': '"127.0.0.1:16232:15672"',
    }
    folder = own_copy(tmp_path, "rabbitmq-worker", "up-mq", renames, "RABBITMQ_PASSWORD='up mq pw'\n")
    own.append(folder)
    applied(folder)
    # A durable queue holding one persistent message: the broker's data.
    keep = (
        "import os,pika; c=pika.BlockingConnection(pika.URLParameters(os.environ['AMQP_URL'])); ch=c.channel(); "
        "ch.queue_declare('up-kept', durable=True); "
        "ch.basic_publish('', 'up-kept', b'kept', pika.BasicProperties(delivery_mode=2)); c.close()"
    )
    _docker.exec_in("up-rabbitmq-worker", ["python3", "-c", keep])
    for n, resource in enumerate(["up-rabbitmq", "up-rabbitmq-worker"], 1):
        change_env(folder, resource, str(n))
        result = applied(folder)
        assert "recreated" in change_line(result, resource), result.err
        assert engine_support.container_env(resource)["UP_CHANGE"] == str(n)
        everything_up("up-mq", {"up-rabbitmq", "up-rabbitmq-worker"})
        queues = _docker.exec_in(
            "up-rabbitmq", ["rabbitmqctl", "-q", "list_queues", "-p", "jobs/v1", "name", "messages"]
        )
        assert re.search(r"(?m)^up-kept\s+1$", queues), queues
        sent = _docker.exec_in("up-rabbitmq-worker", ["python3", "worker.py", "send", f"hello {n}"])
        assert sent.strip() == f"HELLO {n}"


# -- failures that name what they left down ---------------------------------------------------------


def _project(tmp_path: Path, name: str, body: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "main.py").write_text(HEADER + textwrap.dedent(body))
    return folder


def _states(project: str) -> dict[str, tuple[str, int]]:
    return {name: (s.status, s.exit_code) for name, s in _docker.containers(project).items()}


def test_a_dependency_crash_looping_after_a_change_names_itself_and_what_is_down(
    tmp_path: Path, own: list[Path]
) -> None:
    body = f"""
        cache = DockerResource(name="up-dep-cache", image="redis:7-alpine", command=["redis-server"])
        app = DockerResource(name="up-dep-app", image="{APP_IMAGE}", command=["sleep", "infinity"],
                             readiness=CommandProbe(["true"]))
        app.connect(cache)
        """
    folder = _project(tmp_path, "up-dep", body)
    own.append(folder)
    applied(folder)
    # The cache now exits 4 at once, for ever: its restart policy crash-loops it.
    (folder / "main.py").write_text(
        HEADER + textwrap.dedent(body).replace('command=["redis-server"]', 'command=["sh", "-c", "exit 4"]')
    )
    result = clockwork("apply", cwd=folder)
    assert result.code == 1, result.text
    assert re.search(
        r"apply failed after [\d.]+s: up-dep-cache keeps restarting \(restarted \d+ times?, last exit code 4\)",
        result.err,
    ), result.err
    assert "running before this apply, not now:" in result.err
    assert re.search(r"(?m)^  up-dep-cache: restarting \(last exit code 4\)$", result.err), result.err
    assert re.search(r"(?m)^  up-dep-app: created, not started; waits for up-dep-cache \(restarting\)$", result.err), (
        result.err
    )
    states = _states("up-dep")
    assert states["up-dep-app"] == ("created", 0)  # Compose recreated it and waits for the cache
    assert states["up-dep-cache"][0] in ("restarting", "running")


def test_a_taken_port_prints_the_engines_error_and_names_the_service_left_created(
    tmp_path: Path, own: list[Path]
) -> None:
    body = f"""
        DockerResource(name="up-port-app", image="{APP_IMAGE}", ports=["127.0.0.1:16241:8080"],
                       command=["python3", "-m", "http.server", "8080"], readiness=TcpProbe(8080))
        """
    folder = _project(tmp_path, "up-port", body)
    own.append(folder)
    applied(folder)
    blocker = "up-port-blocker"  # holds the port the app moves to
    engine_support.docker("rm", "--force", "--volumes", blocker, check=False)
    engine_support.docker("run", "--detach", "--name", blocker, "-p", "127.0.0.1:16240:8080", APP_IMAGE, "sleep", "1d")
    try:
        (folder / "main.py").write_text(HEADER + textwrap.dedent(body).replace("16241:8080", "16240:8080"))
        result = clockwork("apply", cwd=folder)
    finally:
        engine_support.docker("rm", "--force", "--volumes", blocker, check=False)
    assert result.code == 1, result.text
    assert "port is already allocated" in result.err, result.err  # the engine's own words
    assert re.search(r"(?m)^  up-port-app: created, not started$", result.err), result.err
    assert _states("up-port")["up-port-app"][0] == "created"  # Compose replaced it; it could not start


def test_an_unhealthy_http_probe_says_what_it_printed(tmp_path: Path, own: list[Path]) -> None:
    folder = _project(
        tmp_path,
        "up-sick",
        f"""
        DockerResource(name="up-sick-app", image="{APP_IMAGE}", ports=["127.0.0.1:16242:8080"],
                       command=["sleep", "infinity"], readiness=HttpProbe("/health", retries=2))
        """,
    )
    own.append(folder)
    result = clockwork("apply", cwd=folder)
    assert result.code == 1, result.text
    said = re.search(r"up-sick-app is unhealthy; its readiness probe said: (.*)", result.err)
    assert said is not None, result.err
    # The image has curl: its own one line, naming the port nothing listens on.
    assert "Failed to connect to 127.0.0.1 port 8080" in said.group(1), said.group(1)
    # Left running as it is. Its probe rests once ready, so its start period is its whole
    # budget: Docker still says "starting" (it would say "unhealthy" two checks at rest
    # later); apply called it unhealthy once the budget and one more check had passed.
    state = _docker.container("up-sick-app")
    assert state is not None and (state.status, state.health) == ("running", "starting")
    assert "port 8080" in state.health_output
    # Not at apply's deadline (its 2 s budget plus a minute's margin).
    failed_after = re.search(r"apply failed after ([0-9.]+)s", result.err)
    assert failed_after is not None and float(failed_after.group(1)) < 30, result.err
