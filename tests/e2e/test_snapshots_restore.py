"""Snapshots before migrations, and `clockwork restore`, on the real engine: a small project
(folders and resources named ``cw-snap...``, host ports 15401-15402) creates a table with
rows, then a migration drops a column; apply with a snapshot, restore, and the column, its
data and the history are back. Only these projects' containers and volumes are removed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import Run, clockwork

from clockwork_compose import _docker, _lower

pytestmark = pytest.mark.e2e

PG_PORT = 15401
PG_MAIN = f"""\
from clockwork_compose import DatabaseConnection, DockerResource

db = DockerResource(
    name="cw-snap-pg-db",
    image="postgres:15-alpine",
    ports=["{PG_PORT}:5432"],
    env_vars={{"POSTGRES_USER": "snap", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "snapdb"}},
)
app = DockerResource(name="cw-snap-pg-app", image="redis:7-alpine")
app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations"))
"""
MARIA_MAIN = """\
from clockwork_compose import DatabaseConnection, DockerResource

db = DockerResource(
    name="cw-snap-maria-db",
    image="mariadb:11",
    env_vars={"MARIADB_USER": "snap", "MARIADB_PASSWORD": "pw", "MARIADB_DATABASE": "snapdb",
              "MARIADB_ROOT_PASSWORD": "rootpw"},
)
app = DockerResource(name="cw-snap-maria-app", image="redis:7-alpine")
app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations", snapshot=True))
"""


def _project(tmp_path: Path, folder: str, main: str) -> Iterator[Path]:
    root = tmp_path / folder
    (root / "migrations").mkdir(parents=True)
    (root / "main.py").write_text(main)
    (root / "migrations" / "001_items.sql").write_text(
        "CREATE TABLE items (id int PRIMARY KEY, name text, note text);\n"
        "INSERT INTO items VALUES (1, 'a', 'first'), (2, 'b', 'second'), (3, 'c', 'third');\n"
    )
    name = _lower.project_name(root)
    engine_support.remove_leftovers(projects=[name])
    try:
        yield root
    finally:
        engine_support.remove_leftovers(projects=[name])


@pytest.fixture
def pg_project(tmp_path: Path) -> Iterator[Path]:
    yield from _project(tmp_path, "cw-snap-pg", PG_MAIN)


@pytest.fixture
def maria_project(tmp_path: Path) -> Iterator[Path]:
    yield from _project(tmp_path, "cw-snap-maria", MARIA_MAIN)


def cli(root: Path, *args: str) -> Run:
    return clockwork(*args, "-C", str(root), cwd=root)


def pg(sql: str) -> str:
    return _docker.exec_in("cw-snap-pg-db", ["psql", "-X", "-At", "-U", "snap", "-d", "snapdb", "-c", sql])


def maria(sql: str) -> str:
    argv = ["mariadb", "-usnap", "--batch", "--skip-column-names", "snapdb", "-e", sql]
    return _docker.exec_in("cw-snap-maria-db", argv, env={"MYSQL_PWD": "pw"})


def test_postgres_snapshot_then_restore_brings_the_column_back(pg_project: Path) -> None:
    first = cli(pg_project, "apply", "--snapshot")
    assert first.code == 0, first.text
    assert "snapshot of" not in first.text  # a fresh database: nothing to lose
    assert pg("SELECT count(*) FROM items") == "3"

    (pg_project / "migrations" / "002_drop_note.sql").write_text("ALTER TABLE items DROP COLUMN note;\n")
    second = cli(pg_project, "apply", "--snapshot")
    assert second.code == 0, second.text
    assert "snapshot of cw-snap-pg-db before 002_drop_note.sql: " in second.err, second.text
    note = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'"
    assert pg(note) == "0"

    listed = cli(pg_project, "snapshots", "--json")
    assert listed.code == 0, listed.text
    (shot,) = json.loads(listed.out)
    assert shot["database"] == "cw-snap-pg-db" and shot["before"] == "002_drop_note.sql" and shot["size"] > 0
    assert shot["name"].endswith("-before-002_drop_note.sql.pgdump")
    table = cli(pg_project, "snapshots")
    assert table.out.splitlines()[0].split() == ["SNAPSHOT", "DATABASE", "SIZE", "TAKEN", "(UTC)"], table.text

    refused = cli(pg_project, "restore", shot["name"])
    assert refused.code == 2, refused.text
    assert len(refused.err.strip().splitlines()) == 1 and "--discard-newer" in refused.err, refused.text
    assert "002_drop_note.sql" in refused.err

    (pg_project / "migrations" / "002_drop_note.sql").unlink()  # the migration that lost data goes
    restored = cli(pg_project, "restore", shot["name"], "--discard-newer")
    assert restored.code == 0, restored.text
    assert "no longer recorded: 002_drop_note.sql" in restored.err
    assert "stopped and started again: cw-snap-pg-app" in restored.err
    assert pg("SELECT string_agg(note, ',' ORDER BY id) FROM items") == "first,second,third"
    assert pg("SELECT string_agg(version, ',' ORDER BY version) FROM clockwork_migrations") == "001_items.sql"
    again = cli(pg_project, "snapshots", "--json")
    assert [s["name"] for s in json.loads(again.out)] == [shot["name"]]  # never deleted


def test_mariadb_snapshot_declared_then_restore(maria_project: Path) -> None:
    first = cli(maria_project, "apply")
    assert first.code == 0, first.text
    (maria_project / "migrations" / "002_drop_note.sql").write_text("ALTER TABLE items DROP COLUMN note;\n")
    second = cli(maria_project, "apply")
    assert second.code == 0, second.text
    assert "snapshot of cw-snap-maria-db before 002_drop_note.sql: " in second.err, second.text
    (shot,) = json.loads(cli(maria_project, "snapshots", "--json").out)
    assert shot["name"].endswith(".sql") and shot["size"] > 0

    (maria_project / "migrations" / "002_drop_note.sql").unlink()
    restored = cli(maria_project, "restore", shot["name"], "--discard-newer")
    assert restored.code == 0, restored.text
    assert maria("SELECT group_concat(note ORDER BY id) FROM items") == "first,second,third"
    assert maria("SELECT group_concat(version) FROM clockwork_migrations") == "001_items.sql"
