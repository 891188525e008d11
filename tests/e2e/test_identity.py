"""Nothing lost (issue 8), on the real engine: a database's data survives edits to other
resources and a change of naming, projects cannot borrow each other's containers, apply
converges (orphans removed, their volumes kept), concurrent applies, secrets and git,
destroy without secrets, and test clean-up that touches only its own projects.

Small projects of their own (names start with ``ida-``, host ports 15400-15499), each
removed by label afterwards, also when a test fails."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import engine_support
import pytest
from e2e_support import CLI_TIMEOUT, Run, clean_slate, example_lock
from engine_support import docker

from clockwork_compose import _docker, _lower
from clockwork_compose._errors import RuntimeFailure

pytestmark = pytest.mark.e2e

HEADER = "from clockwork_compose import *  # noqa: F403\n"
PG_ENV = '{"POSTGRES_USER": "ida", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "idadb"}'  # pragma: allowlist secret


@dataclass
class Folder:
    dir: Path

    @property
    def name(self) -> str:
        return _lower.project_name(self.dir)

    def write(self, body: str) -> None:
        (self.dir / "main.py").write_text(HEADER + textwrap.dedent(body), encoding="utf-8")

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "clockwork_compose", *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            env={**os.environ, **(env or {})},
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Callable[[str], Folder]]:
    """Make project folders under tmp_path; everything of their projects is removed after."""
    made: list[Folder] = []

    def make(relative: str) -> Folder:
        path = tmp_path / relative
        path.mkdir(parents=True)
        made.append(Folder(path))
        return made[-1]

    yield make
    engine_support.remove_leftovers(projects=sorted({f.name for f in made}))


def rows(port: int, sql: str = "SELECT count(*) FROM items") -> list[tuple[object, ...]]:
    import psycopg

    dsn = f"postgresql://ida:pw@127.0.0.1:{port}/idadb"  # pragma: allowlist secret
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        cursor = conn.execute(sql)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []


def three_rows(port: int) -> None:
    rows(port, "CREATE TABLE items (id int PRIMARY KEY)")
    rows(port, "INSERT INTO items VALUES (1), (2), (3)")
    assert rows(port) == [(3,)]


def container_id(name: str) -> str | None:
    state = _docker.container(name)
    return state.id if state else None


def data_volume(name: str, path: str) -> str | None:
    state = _docker.container(name)
    return dict(state.volumes).get(path) if state else None


PG_DATA = "/var/lib/postgresql/data"


def assert_nothing_left(project: str) -> None:
    """No container or volume of the project; of its networks only app_network may stay
    (when Compose created it for this project, other projects may be using it now)."""
    left = engine_support.project_resources(project)
    assert left.containers == () and left.volumes == (), left
    assert set(left.networks) <= {_lower.NETWORK}, left


# -- item 1 and the guard: data stays where it is --------------------------------------------


def test_old_naming_is_guarded_then_kept_by_declaring_it_or_replaced_by_the_flag(folder) -> None:
    """A user who applied a file with the old volume name (postgres_data) applies the new
    one: apply stops, touches nothing, and says how to keep the data or go ahead."""
    project = folder("ida-guard")
    db = f'DockerResource(name="ida-guard-db", image="postgres:15-alpine", ports=["15401:5432"], env_vars={PG_ENV}'
    project.write(f"db = {db})\n")
    assert project.cli("build").code == 0
    compose_file = project.dir / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text().replace("ida-guard-db_data", "postgres_data"))
    old = _docker.ComposeProject(project.name, project.dir, (compose_file,))
    engine_support.compose_up_wait(old, timeout=120)
    three_rows(15401)
    before = container_id("ida-guard-db")
    assert data_volume("ida-guard-db", PG_DATA) == "ida-guard_postgres_data"

    refused = project.cli("apply")
    assert refused.code == 1, refused.text
    assert "ida-guard_postgres_data" in refused.err and "ida-guard_ida-guard-db_data" in refused.err
    assert 'volumes=["postgres_data:/var/lib/postgresql/data"]' in refused.err
    assert "--replace-data" in refused.err
    assert container_id("ida-guard-db") == before
    assert rows(15401) == [(3,)]
    assert "ida-guard_ida-guard-db_data" not in engine_support.volume_names()

    project.write(f'db = {db}, volumes=["postgres_data:{PG_DATA}"])\n')  # what the message says
    kept = project.cli("apply")
    assert kept.code == 0, kept.text
    assert rows(15401) == [(3,)]
    assert data_volume("ida-guard-db", PG_DATA) == "ida-guard_postgres_data"

    project.write(f"db = {db})\n")
    assert project.cli("apply").code == 1
    assert rows(15401) == [(3,)]
    replaced = project.cli("apply", "--replace-data")
    assert replaced.code == 0, replaced.text
    assert "docker volume rm ida-guard_postgres_data" in replaced.err
    assert data_volume("ida-guard-db", PG_DATA) == "ida-guard_ida-guard-db_data"
    assert rows(15401, "SELECT to_regclass('items') IS NULL") == [(True,)]  # started empty, as asked
    assert "ida-guard_postgres_data" in engine_support.volume_names()  # the old data is still there

    gone = project.cli("destroy")
    assert gone.code == 0, gone.text
    assert_nothing_left(project.name)
    assert {"ida-guard_postgres_data", "ida-guard_ida-guard-db_data"}.isdisjoint(engine_support.volume_names())


def test_old_redis_naming_is_guarded_and_kept_by_declaring_it(folder) -> None:
    """The same upgrade for the example's other volume (redis_data): the guard is not
    postgres's; a key written before the new file is applied is still there after."""
    project = folder("ida-rguard")
    cache = 'DockerResource(name="ida-rguard-cache", image="redis:7-alpine"'
    project.write(f"cache = {cache})\n")
    assert project.cli("build").code == 0
    compose_file = project.dir / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text().replace("ida-rguard-cache_data", "redis_data"))
    engine_support.compose_up_wait(_docker.ComposeProject(project.name, project.dir, (compose_file,)), timeout=60)
    _docker.exec_in("ida-rguard-cache", ["redis-cli", "set", "kept", "yes"])
    _docker.exec_in("ida-rguard-cache", ["redis-cli", "save"])
    before = container_id("ida-rguard-cache")

    refused = project.cli("apply")
    assert refused.code == 1, refused.text
    assert "ida-rguard_redis_data" in refused.err and "--replace-data" in refused.err
    assert 'volumes=["redis_data:/data"]' in refused.err
    assert container_id("ida-rguard-cache") == before

    project.write(f'cache = {cache}, volumes=["redis_data:/data"])\n')
    kept = project.cli("apply")
    assert kept.code == 0, kept.text
    assert data_volume("ida-rguard-cache", "/data") == "ida-rguard_redis_data"
    assert _docker.exec_in("ida-rguard-cache", ["redis-cli", "get", "kept"]).strip() == "yes"
    assert project.cli("destroy").code == 0
    assert_nothing_left(project.name)


def test_adding_databases_keeps_the_first_and_removed_services_leave_with_their_volumes_listed(folder) -> None:
    """Item 1 (a second postgres and redis leave the first's volume alone) and item 7
    (removed and renamed services are removed, named, their volumes kept and listed;
    destroy then removes those volumes too)."""
    project = folder("ida-grow")
    base = f"""
        pg = DockerResource(name="ida-grow-pg", image="postgres:15-alpine", ports=["15402:5432"], env_vars={PG_ENV})
        cache = DockerResource(name="ida-grow-cache", image="redis:7-alpine")
    """
    project.write(base)
    first = project.cli("apply")
    assert first.code == 0, first.text
    three_rows(15402)
    pg = container_id("ida-grow-pg")

    project.write(
        base
        + f"""
        pg2 = DockerResource(name="ida-grow-pg2", image="postgres:15-alpine", env_vars={PG_ENV})
        worker = DockerResource(name="ida-grow-worker1", image="redis:7-alpine")
    """
    )
    grown = project.cli("apply")
    assert grown.code == 0, grown.text
    assert container_id("ida-grow-pg") == pg, "the first database was recreated"
    assert rows(15402) == [(3,)]
    assert data_volume("ida-grow-pg", PG_DATA) == "ida-grow_ida-grow-pg_data"
    assert data_volume("ida-grow-cache", "/data") == "ida-grow_ida-grow-cache_data"
    assert data_volume("ida-grow-pg2", PG_DATA) == "ida-grow_ida-grow-pg2_data"

    project.write(base + '    worker = DockerResource(name="ida-grow-worker2", image="redis:7-alpine")\n')
    shrunk = project.cli("apply")
    assert shrunk.code == 0, shrunk.text
    for gone in ("ida-grow-pg2", "ida-grow-worker1"):
        assert f"removed {gone}" in shrunk.err
        assert f"docker volume rm ida-grow_{gone}_data" in shrunk.err
        assert _docker.container(gone) is None
        assert f"ida-grow_{gone}_data" in engine_support.volume_names()
    assert _docker.container("ida-grow-worker2").status == "running"  # type: ignore[union-attr]
    assert container_id("ida-grow-pg") == pg and rows(15402) == [(3,)]

    destroyed = project.cli("destroy")
    assert destroyed.code == 0, destroyed.text
    assert "ida-grow_ida-grow-pg2_data" in destroyed.err
    assert_nothing_left(project.name)


# -- item 2: names that fold together ------------------------------------------------------------


def test_databases_named_alike_never_share_a_volume_and_consumers_never_share_a_variable(folder) -> None:
    project = folder("ida-fold")
    project.write(
        """
        a = DockerResource(name="ida-x", image="redis:7-alpine")
        b = DockerResource(name="ida_x", image="redis:7-alpine")
        """
    )
    result = project.cli("apply")
    assert result.code == 0, result.text
    assert data_volume("ida-x", "/data") == "ida-fold_ida-x_data"
    assert data_volume("ida_x", "/data") == "ida-fold_ida_x_data"
    _docker.exec_in("ida-x", ["redis-cli", "set", "owner", "ida-x"])
    _docker.exec_in("ida-x", ["redis-cli", "save"])
    assert _docker.exec_in("ida_x", ["redis-cli", "get", "owner"]).strip() == ""

    project.write(
        """
        db = DockerResource(name="ida-x", image="redis:7-alpine", env_vars={"REDIS_PASSWORD": Secret("IDA_PW")})
        a = DockerResource(name="ida-api-x", image="redis:7-alpine")
        b = DockerResource(name="ida-api_x", image="redis:7-alpine")
        for app in (a, b):
            app.connect(
                DatabaseConnection(
                    to_resource=db,
                    password=Secret("IDA_PW"),
                    connection_string_template="redis://:{password}@{host}:{port}/0",
                    env_var_name="CACHE_URL",
                )
            )
        """
    )
    refused = project.cli("apply", env={"IDA_PW": "pw"})
    assert refused.code == 2, refused.text
    assert "CLOCKWORK_IDA_API_X_CACHE_URL" in refused.err
    assert "ida-api-x" in refused.err and "ida-api_x" in refused.err
    assert _docker.container("ida-api-x") is None and _docker.container("ida-api_x") is None


# -- item 3: a project's identity cannot be borrowed ------------------------------------------


def test_another_folder_with_the_same_name_can_neither_destroy_nor_take_over(folder) -> None:
    mine, other = folder("a/ida-own"), folder("b/ida-own")
    body = 'cache = DockerResource(name="ida-own-cache", image="redis:7-alpine")\n'
    mine.write(body)
    other.write(body)
    assert mine.name == other.name == "ida-own"
    applied = mine.cli("apply")
    assert applied.code == 0, applied.text
    cache = container_id("ida-own-cache")

    nothing = other.cli("destroy")
    assert nothing.code == 0, nothing.text
    assert "nothing to remove" in nothing.err and str(mine.dir) in nothing.err
    assert container_id("ida-own-cache") == cache
    assert "ida-own_ida-own-cache_data" in engine_support.volume_names()

    taken = other.cli("apply")
    assert taken.code == 1, taken.text
    assert str(mine.dir) in taken.err and "clockwork destroy" in taken.err
    assert container_id("ida-own-cache") == cache

    # Its containers gone, its data kept: still not the other folder's to use or remove.
    assert mine.cli("destroy", "--keep-volumes").code == 0
    borrowed = other.cli("apply")
    assert borrowed.code == 1, borrowed.text
    assert str(mine.dir) in borrowed.err and "ida-own_ida-own-cache_data" in borrowed.err
    assert _docker.container("ida-own-cache") is None
    again = other.cli("destroy")
    assert again.code == 0 and "nothing to remove" in again.err, again.text
    assert "ida-own_ida-own-cache_data" in engine_support.volume_names()

    removed = mine.cli("destroy")
    assert removed.code == 0 and "ida-own_ida-own-cache_data" in removed.err, removed.text
    assert_nothing_left("ida-own")


def test_folders_named_without_ascii_letters_are_distinct_projects(folder) -> None:
    japanese, russian = folder("データ"), folder("данные")
    japanese.write('c = DockerResource(name="ida-jp-cache", image="redis:7-alpine")\n')
    russian.write('c = DockerResource(name="ida-ru-cache", image="redis:7-alpine")\n')
    assert japanese.name != russian.name
    for project in (japanese, russian):
        result = project.cli("apply")
        assert result.code == 0, result.text
    assert _docker.container("ida-jp-cache").project == japanese.name  # type: ignore[union-attr]
    gone = russian.cli("destroy")
    assert gone.code == 0 and "ida-ru-cache" in gone.err, gone.text
    assert _docker.container("ida-jp-cache").status == "running"  # type: ignore[union-attr]
    assert _docker.container("ida-ru-cache") is None


def test_a_container_name_another_project_holds_stops_apply_before_anything_changes(folder) -> None:
    first, second = folder("ida-name-a"), folder("ida-name-b")
    body = 'cache = DockerResource(name="ida-name-cache", image="redis:7-alpine")\n'
    first.write(body)
    second.write(body + 'other = DockerResource(name="ida-name-other", image="redis:7-alpine")\n')
    assert first.cli("apply").code == 0
    cache = container_id("ida-name-cache")
    refused = second.cli("apply")
    assert refused.code == 1, refused.text
    assert "ida-name-cache" in refused.err and "project ida-name-a" in refused.err and str(first.dir) in refused.err
    assert container_id("ida-name-cache") == cache
    assert _docker.container("ida-name-other") is None  # nothing of it was started


# -- item 8: concurrency ---------------------------------------------------------------------------


def test_two_projects_at_once_both_succeed_and_one_project_twice_is_refused(folder) -> None:
    one, two = folder("ida-cc1"), folder("ida-cc2")
    one.write('c = DockerResource(name="ida-cc1-cache", image="redis:7-alpine")\n')
    two.write('c = DockerResource(name="ida-cc2-cache", image="redis:7-alpine")\n')
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "clockwork_compose", "apply"],
            cwd=f.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in (one, two)
    ]
    outputs = [p.communicate(timeout=CLI_TIMEOUT) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert len(_docker.networks(_lower.NETWORK)) == 1
    for name in ("ida-cc1-cache", "ida-cc2-cache"):
        assert _lower.NETWORK in _docker.container(name).networks  # type: ignore[union-attr]

    with _docker.project_lock(one.name, "apply"):  # an apply of ida-cc1 is running
        busy = one.cli("apply")
    assert busy.code == 1, busy.text
    assert "another apply of ida-cc1 is running" in busy.err
    again = one.cli("apply")
    assert again.code == 0, again.text


def test_applies_racing_to_create_the_shared_network_make_exactly_one() -> None:
    """What two applies on a fresh engine do to app_network, on a name of this test's own
    (app_network itself is in use by everyone on this engine)."""
    name = "ida-race-net"
    start = threading.Barrier(4)
    made: list[str] = []

    def ensure() -> None:
        start.wait()
        made.append(_docker.ensure_network(name).id)

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        found = _docker.networks(name)
        assert len(found) == 1, found
        assert made == [found[0].id] * 4
    finally:
        for network in _docker.networks(name):
            docker("network", "rm", network.id, check=False)


def _docker_api(method: str, path: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    """The engine's HTTP API itself (the docker CLI refuses to make what this test needs): the
    status and the JSON body."""

    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect("/var/run/docker.sock")

    conn = Unix("localhost")
    conn.request(method, path, json.dumps(body) if body else None, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else {}


@pytest.mark.skipif(not Path("/var/run/docker.sock").exists(), reason="needs the engine's local socket")
def test_a_stray_duplicate_network_is_detected_with_the_fix() -> None:
    """Two networks of one name, made as two racing `compose up` make them (through the
    API, no duplicate check), under a name of this test's own: app_network is shared.
    Engine 25 and later refuse the second one (409): then the race cannot leave two."""
    name = "ida-dup-net"
    made = [_docker_api("POST", "/networks/create", {"Name": name, "CheckDuplicate": False}) for _ in "ab"]
    ids = [str(body["Id"]) for status, body in made if status < 300]
    try:
        assert made[0][0] < 300, made[0]
        if made[1][0] == 409:
            assert "already exists" in str(made[1][1].get("message")), made[1]
            assert [n.id for n in _docker.networks(name)] == ids
            return
        assert made[1][0] < 300, made[1]
        with pytest.raises(RuntimeFailure) as caught:
            _docker.ensure_network(name)
        message = str(caught.value)
        assert f"2 networks named {name}" in message and "ambiguous" in message
        assert any(f"docker network rm {i[:12]}" in message for i in ids)
        assert len(_docker.networks(name)) == 2  # detected, nothing removed behind the user's back
    finally:
        for network_id in ids:
            _docker_api("DELETE", f"/networks/{network_id}")


# -- items 9 and 10: secrets and git, destroy without secrets --------------------------------


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


SECRET_BODY = (
    'c = DockerResource(name="ida-sec-cache", image="redis:7-alpine", env_vars={"TOKEN": Secret("IDA_TOKEN")})\n'
)


def test_a_tracked_env_is_refused_and_destroy_needs_no_secret(folder) -> None:
    project = folder("ida-sec")
    project.write(SECRET_BODY)
    (project.dir / ".env").write_text("OTHER=1\n")
    git("init", "-q", cwd=project.dir)
    git("add", ".env", cwd=project.dir)
    refused = project.cli("apply", env={"IDA_TOKEN": "t0ken-value"})
    assert refused.code == 2, refused.text
    assert "git rm --cached .env" in refused.err
    assert (project.dir / ".env").read_text() == "OTHER=1\n"
    assert _docker.container("ida-sec-cache") is None

    git("rm", "-q", "--cached", ".env", cwd=project.dir)
    applied = project.cli("apply", env={"IDA_TOKEN": "t0ken-value"})
    assert applied.code == 0, applied.text
    assert engine_support.container_env("ida-sec-cache")["TOKEN"] == "t0ken-value"
    assert git("ls-files", ".env", cwd=project.dir) == ""

    (project.dir / ".env").unlink()  # item 10: no secret value anywhere
    env = {k: v for k, v in os.environ.items() if k != "IDA_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "clockwork_compose", "destroy"],
        cwd=project.dir,
        capture_output=True,
        text=True,
        env=env,
        timeout=CLI_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ida-sec-cache" in proc.stderr and "ida-sec_ida-sec-cache_data" in proc.stderr
    assert_nothing_left(project.name)


# -- item 11: test clean-up touches only its own projects -------------------------------------


def test_clean_slate_leaves_a_container_on_the_example_port_that_is_not_the_example() -> None:
    """A bystander publishing 8000 (the example's API port), with no example label."""
    name = "ida-bystander"
    with example_lock():
        docker("rm", "-f", "-v", name, check=False)
        docker("run", "-d", "--name", name, "-p", "127.0.0.1:8000:6379", "redis:7-alpine")
        try:
            clean_slate()
            assert _docker.container(name) is not None, "clean-up removed a container it does not own"
        finally:
            docker("rm", "-f", "--volumes", name, check=False)


def test_a_network_is_not_removed_while_a_created_container_names_it() -> None:
    """Compose creates every container before it starts them: such a container is not in
    the network's inspect, and removing the network then would make its start fail."""
    name = "ida-created-net"
    docker("network", "create", name)
    docker("create", "--name", name, "--network", name, "redis:7-alpine")
    try:
        assert _docker.remove_network_if_unused(name, "ida-none") == ()
        assert len(_docker.networks(name)) == 1
        docker("start", name)
    finally:
        docker("rm", "-f", "-v", name, check=False)
    assert _docker.remove_network_if_unused(name, "ida-none") == (name,)
    assert _docker.networks(name) == []


def test_removing_what_someone_else_removed_meanwhile_is_not_an_error() -> None:
    """destroy lists, then removes: a container or volume gone in between is fine."""
    name = "ida-vanishing"
    docker("create", "--name", name, "redis:7-alpine")
    try:
        _docker.remove_containers([[name, "ida-already-gone"], ["ida-also-gone"]])
        _docker.remove_volumes(["ida-gone-volume"])
        assert _docker.container(name) is None
    finally:
        docker("rm", "-f", "-v", name, check=False)
