"""`clockwork migrations status` and `lint` on the real engine: a small project (folder and
resource names start with ``cw-migstatus``, host port 15187) is applied once; the test then
edits, adds and removes migration files as a user would and reads what status says. Only
this project's containers, volumes and network are removed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import Run, clockwork

from clockwork_compose import _lower

pytestmark = pytest.mark.e2e

PORT = 15187
MAIN = f"""\
from clockwork_compose import DatabaseConnection, DockerResource

db = DockerResource(
    name="cw-migstatus-db",
    image="postgres:15-alpine",
    ports=["{PORT}:5432"],
    env_vars={{"POSTGRES_USER": "ms", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "msdb"}},
)
app = DockerResource(name="cw-migstatus-app", image="redis:7-alpine")
app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations"))
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "cw-migstatus"
    (root / "migrations").mkdir(parents=True)
    (root / "main.py").write_text(MAIN)
    (root / "migrations" / "001_items.sql").write_text("CREATE TABLE items (id serial PRIMARY KEY, name text);\n")
    (root / "migrations" / "002_seed.sql").write_text("INSERT INTO items (name) VALUES ('a');\n")
    (root / "migrations" / "003_more.sql").write_text("ALTER TABLE items ADD COLUMN price int;\n")
    name = _lower.project_name(root)
    engine_support.remove_leftovers(projects=[name])
    try:
        yield root
    finally:
        engine_support.remove_leftovers(projects=[name])


def cli(root: Path, *args: str) -> Run:
    return clockwork(*args, "-C", str(root), cwd=root)


def test_status_lists_applied_pending_changed_and_missing(project: Path) -> None:
    down = cli(project, "migrations", "status")
    assert down.code == 1 and down.err.strip() == (
        "cw-migstatus-db is not running: start the stack with `clockwork apply`"
    ), down.text
    applied = cli(project, "apply")
    assert applied.code == 0, applied.text

    # edit an applied file, remove one, add two: one risky
    migrations = project / "migrations"
    (migrations / "002_seed.sql").write_text("INSERT INTO items (name) VALUES ('b');\n")
    (migrations / "003_more.sql").unlink()
    (migrations / "004_index.sql").write_text("CREATE INDEX items_name ON items (name);\n")
    (migrations / "005_drop.sql").write_text("-- ALTER TABLE items DROP COLUMN name;\nSELECT 1;\n")

    status = cli(project, "migrations", "status")
    assert status.code == 0, status.text
    lines = status.out.splitlines()
    assert lines[0] == "cw-migstatus-db (plain): 1 applied, 2 pending, 1 changed, 1 missing"
    states = {line.split()[1]: line.split()[0] for line in lines[1:]}
    assert states == {
        "migrations/001_items.sql": "applied",
        "migrations/002_seed.sql": "changed",
        "migrations/004_index.sql": "pending",
        "migrations/005_drop.sql": "pending",
        "003_more.sql": "missing",
    }
    assert next(line for line in lines if "001_items" in line).split()[2].endswith("Z")  # when it was applied

    as_json = json.loads(cli(project, "migrations", "status", "--json").out)
    assert [f["state"] for f in as_json[0]["files"]] == ["applied", "changed", "pending", "pending", "missing"]

    # lint reads the same database: only pending and changed files, items already exists
    lint = cli(project, "migrations", "lint", "--strict")
    assert lint.code == 1, lint.text
    assert lint.out.splitlines() == [
        "warning: migrations/004_index.sql:1: CREATE INDEX on items blocks writes to it until the index is built; "
        "safer: CREATE INDEX CONCURRENTLY, in a file of its own marked -- clockwork:no-transaction"
    ]
    assert "1 finding" in lint.err
