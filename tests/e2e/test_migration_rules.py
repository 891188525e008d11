"""Issue 8, items 4, 5 and 6 on the real engine, through `clockwork apply`: the schema file
initialises a database once, every migration is all or nothing, and the migration set is
validated against what was applied. One project (names start with ``mr-``, host port
15060) is applied once; the tests then edit it in file order, as a user would, and each
checks the exit code, the message and that the data is what it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import engine_support
import pytest
from e2e_support import CLI_TIMEOUT, Run

from clockwork_compose import _lower

pytestmark = pytest.mark.e2e

PORT = 15060
DSN = f"postgresql://mr:pw@127.0.0.1:{PORT}/mrdb"  # pragma: allowlist secret
MAIN = """\
from clockwork_compose import DatabaseConnection, DockerResource

db = DockerResource(
    name="mr-db",
    image="postgres:15-alpine",
    ports=["{port}:5432"],
    env_vars={{"POSTGRES_USER": "mr", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "mrdb"}},
)
app = DockerResource(name="mr-app", image="redis:7-alpine")
app.connect(DatabaseConnection(to_resource=db, schema_file="schema.sql", migrations_dir="migrations"))
"""
SCHEMA = "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);\n"


@dataclass(frozen=True)
class Project:
    dir: Path

    def cli(self, *args: str) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "clockwork_compose", *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            env=dict(os.environ),
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def write(self, relative: str, text: str) -> Path:
        path = self.dir / relative
        path.write_bytes(text.encode())
        return path

    def compose_text(self) -> str:
        return (self.dir / "docker-compose.yml").read_text(encoding="utf-8")


def query(sql: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(DSN, connect_timeout=5, autocommit=True) as conn:
        cursor = conn.execute(sql)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []


def error_lines(result: Run) -> list[str]:
    """The one-line error a refusal must be (apply says which project it applies first)."""
    return [line for line in result.err.splitlines() if line.startswith("error:")]


def names() -> list[str]:
    return [str(row[0]) for row in query("SELECT name FROM items ORDER BY id")]


def records() -> dict[str, tuple[object, object]]:
    rows = query("SELECT version, checksum, applied_at FROM clockwork_migrations")
    return {str(version): (checksum, applied_at) for version, checksum, applied_at in rows}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("rules") / "mr-rules"
    (root / "migrations").mkdir(parents=True)
    made = Project(root)
    made.write("main.py", textwrap.dedent(MAIN).format(port=PORT))
    made.write("schema.sql", SCHEMA)
    made.write("migrations/001_seed.sql", "INSERT INTO items (name) VALUES ('a');\n")
    name = _lower.project_name(root)
    engine_support.remove_leftovers(projects=[name])
    try:
        result = made.cli("apply")
        assert result.code == 0, result.text
        query("INSERT INTO items (name) VALUES ('b'), ('c')")
        yield made
    finally:
        engine_support.remove_leftovers(projects=[name])


# -- item 4: the schema file initialises a database once --------------------------------------


def test_a_comment_or_line_ending_edit_in_the_schema_runs_nothing(project: Project) -> None:
    before = records()
    project.write(
        "schema.sql", "-- the shop's items\r\nCREATE TABLE items (id serial PRIMARY KEY,\r\n  name text NOT NULL);\r\n"
    )
    result = project.cli("apply")
    assert result.code == 0, result.text
    assert names() == ["a", "b", "c"]
    assert records() == before


def test_a_changed_schema_is_refused_before_anything_runs(project: Project) -> None:
    before = records()
    project.write("schema.sql", "DROP TABLE IF EXISTS items;\n" + SCHEMA)  # what pg_dump --clean writes
    result = project.cli("apply")
    assert result.code == 1, result.text
    assert "schema.sql changed after it was applied: put the change in a migration" in result.err
    assert names() == ["a", "b", "c"] and records() == before
    project.write("schema.sql", SCHEMA)
    assert project.cli("apply").code == 0


# -- item 5: every migration is all or nothing --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "BEGIN;\nINSERT INTO items (name) VALUES ('x');\nCOMMIT;\nINSERT INTO nowhere VALUES (1);\n",
            "002_bad.sql:3: COMMIT",
        ),
        ("INSERT INTO items (name) VALUES ('x');\n\\q\nINSERT INTO items (name) VALUES ('y');\n", "002_bad.sql:2: \\q"),
    ],
    ids=["statements-after-its-commit", "backslash-q"],
)
def test_a_file_that_cannot_be_all_or_nothing_is_refused_at_build(project: Project, text: str, says: str) -> None:
    compose = project.compose_text()
    path = project.write("migrations/002_bad.sql", text)
    try:
        result = project.cli("apply")
        assert result.code == 2, result.text
        assert [line for line in result.err.splitlines() if says in line] == error_lines(result), result.err
        assert project.compose_text() == compose
        assert names() == ["a", "b", "c"] and "002_bad.sql" not in records()
    finally:
        path.unlink()


def test_a_file_that_is_one_transaction_leaves_nothing_when_it_fails_then_applies_once(project: Project) -> None:
    broken = "BEGIN;\nINSERT INTO items (name) VALUES ('d');\nSELEC 1;\nCOMMIT;\n"
    project.write("migrations/002_own.sql", broken)
    result = project.cli("apply")
    assert result.code == 1, result.text
    assert "002_own.sql" in result.err
    assert names() == ["a", "b", "c"] and "002_own.sql" not in records()
    project.write("migrations/002_own.sql", broken.replace("SELEC", "SELECT"))
    assert project.cli("apply").code == 0
    assert names() == ["a", "b", "c", "d"] and "002_own.sql" in records()
    again = project.cli("apply")
    assert again.code == 0 and names() == ["a", "b", "c", "d"]


# -- item 6: the set is validated against what was applied ---------------------------------------


def test_a_new_file_before_an_applied_one_is_refused_and_nothing_runs(project: Project) -> None:
    before = records()
    path = project.write("migrations/000_early.sql", "INSERT INTO items (name) VALUES ('early');\n")
    try:
        result = project.cli("apply")
        assert result.code == 1, result.text
        assert "out of order: 000_early.sql sorts before applied" in result.err
        assert "early" not in names() and records() == before
    finally:
        path.unlink()
    assert project.cli("apply").code == 0


def test_an_applied_file_that_was_deleted_fails_apply_and_assert(project: Project) -> None:
    seed = project.dir / "migrations" / "001_seed.sql"
    kept = seed.read_bytes()
    seed.unlink()
    try:
        result = project.cli("apply")
        assert result.code == 1, result.text
        assert "applied migration 001_seed.sql is missing from the migrations folder" in result.err
        checked = project.cli("assert")
        assert checked.code == 1, checked.text
        assert "applied but no longer in the migrations: 001_seed.sql" in checked.out
    finally:
        seed.write_bytes(kept)
    assert project.cli("apply").code == 0
    assert project.cli("assert").code == 0


def test_deleting_every_file_fails_apply_and_names_each_applied_one(project: Project) -> None:
    """The migrations folder emptied and the schema file undeclared: the plan is empty, and
    apply still refuses, naming every file the database records as applied."""
    main = project.dir / "main.py"
    kept_main = main.read_bytes()
    kept = {path: path.read_bytes() for path in sorted((project.dir / "migrations").glob("*.sql"))}
    assert kept
    for path in kept:
        path.unlink()
    main.write_text(kept_main.decode().replace('schema_file="schema.sql", ', ""))
    try:
        result = project.cli("apply")
        assert result.code == 1, result.text
        for path in kept:
            assert f"applied migration {path.name} is missing from the migrations folder" in result.err, result.err
        assert "applied schema file schema.sql is missing" in result.err
        assert f"nothing was applied: {len(kept) + 1} problem(s) above" in result.err
        assert names()[:3] == ["a", "b", "c"]
    finally:
        main.write_bytes(kept_main)
        for path, data in kept.items():
            path.write_bytes(data)
    assert project.cli("apply").code == 0


def test_a_file_that_looks_like_a_migration_but_would_not_run_is_a_build_error(project: Project) -> None:
    compose = project.compose_text()
    path = project.write("migrations/003_upper.SQL", "INSERT INTO items (name) VALUES ('upper');\n")
    try:
        result = project.cli("apply")
        assert result.code == 2, result.text
        assert len(error_lines(result)) == 1 and "003_upper.SQL" in error_lines(result)[0], result.err
        assert project.compose_text() == compose and "upper" not in names()
    finally:
        path.unlink()
