"""Faults, each on a fresh copy of the example: a broken migration, an edited applied one,
two migrators at once, a stopped database; and the compose file without clockwork."""

from __future__ import annotations

import threading

import engine_support
import pytest
from e2e_support import PROJECT, Stack, migration_rows, query, table_exists

from clockwork_compose import _docker

pytestmark = pytest.mark.e2e

APPLIED_BEFORE = {"schema:schema.sql", "001_add_users_table.sql", "002_add_sessions_table.sql", "003_add_indexes.sql"}


def test_broken_migration_fails_apply_then_fixing_it_applies_only_that_file(fresh_stack: Stack) -> None:
    broken = fresh_stack.migration("004_add_audit_log.sql")
    broken.write_text(
        "CREATE TABLE audit_log (id serial PRIMARY KEY);\nINSERT INTO audit_log VALUES (DEFAULT);\n"
        "SELEC 'this is not SQL';\n"
    )
    result = fresh_stack.apply()
    assert result.code == 1, result.text
    assert "postgres-db-migrator" in result.err
    assert "004_add_audit_log.sql" in result.err
    assert 'syntax error at or near "SELEC"' in result.err  # psql's own error, from the migrator's log
    assert not table_exists("audit_log"), "the failed file left a partial effect"
    assert set(migration_rows()) == APPLIED_BEFORE
    api = _docker.container("api-server")
    assert api is None or (api.status == "created" and api.started is None), api

    before = migration_rows()
    broken.write_text("CREATE TABLE audit_log (id serial PRIMARY KEY);\n")
    fixed = fresh_stack.apply()
    assert fixed.code == 0, fixed.text
    after = migration_rows()
    assert set(after) == APPLIED_BEFORE | {"004_add_audit_log.sql"}
    assert {v: after[v] for v in before} == before, "an earlier migration was applied again"
    log = _docker.logs("postgres-db-migrator", tail=5)
    assert "applied 004_add_audit_log.sql" in log and "1 applied" in log
    assert _docker.container("api-server").status == "running"  # type: ignore[union-attr]


def test_editing_an_applied_migration_is_refused_naming_it(applied_stack: Stack) -> None:
    edited = applied_stack.migration("002_add_sessions_table.sql")
    edited.write_text(edited.read_text() + "\nALTER TABLE sessions ADD COLUMN sneaky int;\n")
    rows = migration_rows()
    result = applied_stack.apply()
    assert result.code == 1, result.text
    assert "002_add_sessions_table.sql" in result.err
    assert "002_add_sessions_table.sql changed after it was applied" in result.err
    assert migration_rows() == rows
    sneaky = "SELECT 1 FROM information_schema.columns WHERE table_name = 'sessions' AND column_name = 'sneaky'"
    assert not query(sneaky)


def test_two_migrators_at_once_apply_a_new_migration_exactly_once(applied_stack: Stack) -> None:
    applied_stack.migration("004_count_runs.sql").write_text(
        "CREATE TABLE migration_runs (run int);\nINSERT INTO migration_runs VALUES (1);\n"
    )
    built = applied_stack.cli("build")  # the migrator runs the plan the build wrote
    assert built.code == 0, built.text
    results: dict[int, engine_support.ExecResult] = {}
    start = threading.Barrier(2)

    def run(i: int) -> None:
        start.wait()
        results[i] = engine_support.compose_run(applied_stack.compose, "postgres-db-migrator")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r.exit_code == 0 for r in results.values()), results
    assert query("SELECT count(*) FROM migration_runs") == [(1,)]
    assert "004_count_runs.sql" in migration_rows()
    outputs = [r.output for r in results.values()]
    assert sum("applied 004_count_runs.sql" in out for out in outputs) == 1, outputs


def test_stopped_database_makes_assert_fail_naming_the_check(applied_stack: Stack) -> None:
    engine_support.stop("postgres-db")
    result = applied_stack.cli("assert", "--timeout", "2")
    assert result.code == 1, result.text
    failed = [line for line in result.out.splitlines() if line.startswith("FAIL")]
    assert any("service postgres-db healthy" in line for line in failed), result.out
    assert any("database postgres-db/appdb" in line for line in failed), result.out
    assert "failed" in result.out.splitlines()[-1]


def test_plain_compose_up_wait_brings_the_example_up(fresh_stack: Stack) -> None:
    """The committed docker-compose.yml needs no clockwork: `docker compose up -d --wait`."""
    engine_support.compose_up_wait(fresh_stack.compose, timeout=120)
    states = _docker.containers(PROJECT)
    assert states["postgres-db"].health == "healthy"
    assert states["redis-cache"].health == "healthy"
    assert states["postgres-db-migrator"].status == "exited" and states["postgres-db-migrator"].exit_code == 0
    assert states["api-server"].status == "running" and states["worker-service"].status == "running"
    assert set(migration_rows()) == APPLIED_BEFORE
