"""The seed's flow on the unmodified example: apply, the Verification checks, assert,
a second apply that changes nothing, destroy. One applied stack serves the read-only
checks; the tests run in file order and the last ones change the stack on purpose."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import (
    CONTAINERS,
    NETWORK,
    PROJECT,
    Run,
    Stack,
    clean_slate,
    copy_example,
    eventually,
    example_lock,
    migration_rows,
    query,
    table_exists,
)

from clockwork_compose import _docker

pytestmark = pytest.mark.e2e

MIGRATIONS = ("001_add_users_table.sql", "002_add_sessions_table.sql", "003_add_indexes.sql")


VOLUMES_BEFORE: set[str] = set()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Run]]:
    with example_lock():
        clean_slate()
        VOLUMES_BEFORE.update(engine_support.volume_names())
        copy = copy_example(tmp_path_factory.mktemp("stack"))
        try:
            yield copy, copy.apply()
        finally:
            clean_slate()


@pytest.fixture(scope="module")
def up(stack: tuple[Stack, Run]) -> Stack:
    copy, result = stack
    assert result.code == 0, result.text
    return copy


def test_apply_succeeds_and_reports_each_service(stack: tuple[Stack, Run]) -> None:
    _, result = stack
    assert result.code == 0, result.text
    for name in CONTAINERS:
        assert name in result.err
    assert "migrated" in result.err and "healthy" in result.err
    assert f"applied {PROJECT}" in result.err


def test_database_url_and_redis_url_are_injected(up: Stack) -> None:
    env = engine_support.container_env("api-server")
    assert env["DATABASE_URL"] == "postgresql://admin:secret123@postgres-db:5432/appdb"  # pragma: allowlist secret
    assert env["REDIS_URL"].startswith("redis://redis-cache:6379")


def test_health_endpoint_reports_database_and_redis(up: Stack) -> None:
    def health() -> dict[str, str]:
        with urllib.request.urlopen("http://localhost:8000/health", timeout=3) as response:
            assert response.status == 200
            return json.loads(response.read())

    body = eventually(health, timeout=30)
    assert body["database"] == "ok" and body["redis"] == "ok", body


def test_containers_were_created_and_started_in_dependency_order(up: Stack) -> None:
    c = _docker.containers(PROJECT)
    assert set(c) == set(CONTAINERS)
    created = {name: state.created for name, state in c.items()}
    assert created["postgres-db"] < created["postgres-db-migrator"] < created["api-server"]
    assert created["redis-cache"] < created["postgres-db-migrator"]
    assert created["redis-cache"] < created["worker-service"]
    # Compose held api-server back until the migrator had finished its work.
    assert c["postgres-db-migrator"].finished is not None
    assert c["postgres-db-migrator"].finished <= c["api-server"].started  # type: ignore[operator]


def test_all_containers_are_on_app_network(up: Stack) -> None:
    for name, state in _docker.containers(PROJECT).items():
        assert state.networks == (NETWORK,), name
    running = set(CONTAINERS) - {"postgres-db-migrator"}  # a one-shot leaves the network when it exits
    assert running <= set(engine_support.network_containers(NETWORK))


def test_schema_tables_and_every_migration_are_in_the_database(up: Stack) -> None:
    tables = {r[0] for r in query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"users", "sessions", "clockwork_migrations"} <= tables
    versions = {r[0] for r in query("SELECT version FROM clockwork_migrations")}
    assert versions == {"schema:schema.sql", *MIGRATIONS}


def test_assert_passes(up: Stack) -> None:
    result = up.cli("assert", "--json")
    assert result.code == 0, result.text
    checks = json.loads(result.out)
    assert checks and all(c["passed"] for c in checks), checks
    names = " ".join(c["name"] for c in checks)
    assert "migrator postgres-db-migrator exited 0" in names
    assert "migrations of postgres-db recorded" in names
    human = up.cli("assert")
    assert human.code == 0 and "PASS" in human.out and "0 failed" in human.out


def test_second_apply_changes_nothing_and_does_not_start_the_migrator(up: Stack) -> None:
    before = _docker.containers(PROJECT)
    rows = query("SELECT version, checksum, applied_at FROM clockwork_migrations ORDER BY version")
    result = up.apply()
    assert result.code == 0, result.text
    after = _docker.containers(PROJECT)
    assert {name: s.id for name, s in after.items()} == {name: s.id for name, s in before.items()}
    assert after["postgres-db-migrator"].started == before["postgres-db-migrator"].started, "the migrator ran again"
    assert query("SELECT version, checksum, applied_at FROM clockwork_migrations ORDER BY version") == rows
    assert "5 unchanged" in result.err and "compose up not needed" in result.err


def test_a_new_migration_is_applied_by_the_next_apply_and_only_it(up: Stack) -> None:
    before = _docker.containers(PROJECT)
    rows = migration_rows()
    up.migration("004_add_notes_table.sql").write_text("CREATE TABLE notes (id serial PRIMARY KEY, body text);\n")
    result = up.apply()
    assert result.code == 0, result.text
    after_rows = migration_rows()
    assert set(after_rows) == set(rows) | {"004_add_notes_table.sql"}
    assert {v: after_rows[v] for v in rows} == rows, "an earlier migration was applied again"
    assert table_exists("notes")
    log = _docker.logs("postgres-db-migrator", tail=5)
    assert "applied 004_add_notes_table.sql" in log and "1 applied" in log
    after = _docker.containers(PROJECT)
    unchanged = set(CONTAINERS) - {"postgres-db-migrator"}
    assert {n: after[n].id for n in unchanged} == {n: before[n].id for n in unchanged}
    assert "compose up not needed" not in result.err
    again = up.apply()  # and then nothing more to do
    assert again.code == 0 and "compose up not needed" in again.err, again.text


def test_destroy_leaves_nothing_and_is_idempotent(up: Stack) -> None:
    result = up.cli("destroy")
    assert result.code == 0, result.text
    assert "removed containers" in result.err
    assert engine_support.project_resources(PROJECT) == _docker.Removed()
    assert all(_docker.container(name) is None for name in CONTAINERS)
    # app_network is shared by every project on the engine: removed only when unused.
    others = engine_support.network_containers(NETWORK)
    assert f"removed networks: {NETWORK}" in result.err or others, result.err
    assert not set(others) & set(CONTAINERS)
    # Anonymous volumes too (images declare VOLUMEs): nothing new is left on the engine.
    assert engine_support.volume_names() <= VOLUMES_BEFORE
    again = up.cli("destroy")
    assert again.code == 0 and "nothing to remove" in again.err


def test_destroy_of_a_project_never_applied_is_fine(tmp_path: Path) -> None:
    result = copy_example(tmp_path).cli("destroy")
    assert result.code == 0, result.text
