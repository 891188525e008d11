"""`clockwork migrations lint`: each rule per engine (true positives, no false alarms), and
the real corpora of tests/data (migrations: PostgreSQL; mariadb: MariaDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clockwork_compose import _lint, _migrations
from clockwork_compose._engines import engine_named

DATA = Path(__file__).parent / "data"
PG = engine_named("postgres").migrator.dialect()  # type: ignore[union-attr]
MARIA = engine_named("mariadb").migrator.dialect()  # type: ignore[union-attr]


def findings(text: str, dialect: object = PG) -> list[str]:
    return [f"{f.line}: {f.why}" for f in _lint.lint_text(text, "m.sql", dialect)]  # type: ignore[arg-type]


RISKY_BOTH = [
    ("DROP TABLE users;", "1: DROP TABLE users deletes the table"),
    ("DROP TABLE IF EXISTS public.users;", "1: DROP TABLE users deletes"),
    ("ALTER TABLE users DROP COLUMN email;", "1: DROP COLUMN email deletes"),
    ("ALTER TABLE users DROP email;", "1: DROP COLUMN email deletes"),
    ("ALTER TABLE users\n  ADD COLUMN a int,\n  DROP COLUMN IF EXISTS b;", "3: DROP COLUMN b deletes"),
    ("ALTER TABLE users RENAME COLUMN a TO b;", "1: RENAME COLUMN a breaks"),
    ("ALTER TABLE users RENAME TO people;", "1: RENAME TO renames users"),
    ("TRUNCATE users;", "1: TRUNCATE users deletes every row"),
    ("TRUNCATE TABLE users;", "1: TRUNCATE users deletes every row"),
    ("DELETE FROM users;", "1: DELETE FROM users without WHERE"),
    ("ALTER TABLE users ADD COLUMN age int NOT NULL;", "1: ADD COLUMN age NOT NULL without DEFAULT"),
]
RISKY_POSTGRES = [
    ("CREATE INDEX i ON users (email);", "1: CREATE INDEX on users blocks writes"),
    ("CREATE UNIQUE INDEX IF NOT EXISTS i ON ONLY public.users (email);", "1: CREATE INDEX on users"),
    ("ALTER TABLE users ALTER COLUMN age TYPE bigint;", "1: ALTER COLUMN age TYPE rewrites users"),
    ("ALTER TABLE users ALTER age SET DATA TYPE bigint;", "1: ALTER COLUMN age TYPE rewrites users"),
    ("ALTER TABLE users ALTER COLUMN age SET NOT NULL;", "1: SET NOT NULL on age scans"),
    ("ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (b) REFERENCES b (id);", "1: ADD FOREIGN KEY checks every row of a"),
    ('ALTER TABLE "Users" DROP COLUMN "Email";', "1: DROP COLUMN email deletes the column's data of users"),
]
RISKY_MARIADB = [
    ("ALTER TABLE users MODIFY age BIGINT;", "1: MODIFY COLUMN age may copy all of users"),
    ("ALTER TABLE users MODIFY COLUMN age BIGINT NOT NULL;", "1: MODIFY COLUMN age may copy"),
    ("ALTER TABLE users CHANGE old_name new_name INT;", "1: CHANGE old_name new_name renames"),
    ("RENAME TABLE users TO people;", "1: RENAME TABLE users breaks"),
    ("ALTER TABLE `users` DROP COLUMN `email`;", "1: DROP COLUMN email deletes"),
    ("ALTER TABLE users ADD COLUMN n INT NOT NULL;", "1: ADD COLUMN n NOT NULL without DEFAULT fills"),
]

SAFE_BOTH = [
    "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);",
    "INSERT INTO users (id, email) VALUES (1, 'DROP TABLE users; TRUNCATE users');",
    "-- DROP TABLE users;\n/* ALTER TABLE users DROP COLUMN email; */\nSELECT 1;",
    "ALTER TABLE users ADD COLUMN age int;",
    "ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;",
    "ALTER TABLE users DROP CONSTRAINT users_email_key;",
    "ALTER TABLE users ALTER COLUMN age DROP DEFAULT, ALTER COLUMN age DROP NOT NULL;",
    "DELETE FROM users WHERE id = 1;",
    "UPDATE users SET email = lower(email) WHERE id > 0;",
    "DROP INDEX users_email;",
    # a table created earlier in the same pending set: no rows, nobody using it
    "CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN n int NOT NULL;\nALTER TABLE t DROP COLUMN n;\nDROP TABLE t;",
]
SAFE_POSTGRES = [
    "CREATE INDEX CONCURRENTLY i ON users (email);",
    "CREATE TABLE t (id int);\nCREATE INDEX i ON t (id);",
    "ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (b) REFERENCES b (id) NOT VALID;",
    "ALTER TABLE users ADD COLUMN id2 bigserial NOT NULL;",
    "CREATE FUNCTION f() RETURNS void AS $$ BEGIN DROP TABLE users; END $$ LANGUAGE plpgsql;",
    "SELECT E'TRUNCATE users;';",
]
SAFE_MARIADB = [
    "# DROP TABLE users;\nSELECT 1;",
    "ALTER TABLE users MODIFY age BIGINT, ALGORITHM=INSTANT;",
    "CREATE INDEX i ON users (email);",  # online in InnoDB
    "ALTER TABLE users CHANGE age age BIGINT, ALGORITHM=INPLACE, LOCK=NONE;",
    "INSERT INTO `o'brien` (name) VALUES ('it\\'s; DROP TABLE users');",
]


@pytest.mark.parametrize(("sql", "expected"), RISKY_BOTH + RISKY_POSTGRES)
def test_postgres_flags(sql: str, expected: str) -> None:
    found = findings(sql)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize(("sql", "expected"), RISKY_BOTH + RISKY_MARIADB)
def test_mariadb_flags(sql: str, expected: str) -> None:
    found = findings(sql, MARIA)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize("sql", SAFE_BOTH + SAFE_POSTGRES)
def test_postgres_no_false_alarm(sql: str) -> None:
    assert findings(sql) == []


@pytest.mark.parametrize("sql", SAFE_BOTH + SAFE_MARIADB)
def test_mariadb_no_false_alarm(sql: str) -> None:
    assert findings(sql, MARIA) == []


def test_a_finding_is_one_line_with_file_line_why_and_the_safer_form() -> None:
    (finding,) = _lint.lint_text("SELECT 1;\n\nDROP TABLE users;\n", "migrations/002_x.sql", PG)
    text = str(finding)
    assert text.startswith("migrations/002_x.sql:3: DROP TABLE users deletes")
    assert "; safer: " in text and "\n" not in text


def test_sections_keep_their_file_lines(tmp_path: Path) -> None:
    (tmp_path / "20240101000000_a.sql").write_text(
        "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n"
    )
    (tmp_path / "20240102000000_b.sql").write_text("-- migrate:up\n\nTRUNCATE old;\n-- migrate:down\n")
    plan = _migrations.plan_for(tmp_path)
    found = _lint.lint_steps(plan.steps, tmp_path, "db", PG)
    assert [f"{f.path}:{f.line}" for f in found] == ["db/20240102000000_b.sql:3"]  # not the down section


# -- the corpora: real projects' migrations -------------------------------------------------


def corpus(folder: Path, engine: str, pending_from: int = 0) -> list[str]:
    plan = _migrations.plan_for(folder, engine=engine)
    dialect = engine_named(engine).migrator.dialect()  # type: ignore[union-attr]
    return [str(f) for f in _lint.lint_steps(plan.steps[pending_from:], folder, folder.name, dialect)]


@pytest.mark.parametrize("folder", sorted(p for p in (DATA / "migrations").iterdir() if p.is_dir()))
def test_a_whole_corpus_pending_has_no_finding(folder: Path) -> None:
    """Every corpus on a fresh database: each table it touches it created itself."""
    assert corpus(folder, "postgres") == []


def test_the_mariadb_corpus_has_no_finding() -> None:
    assert corpus(DATA / "mariadb" / "migrations", "mariadb") == []


@pytest.mark.parametrize("pending_from", [1, 2])
def test_plain_create_table_files_have_no_finding(pending_from: int) -> None:
    """sqlx's axum example: CREATE TABLE files (and their indexes on their own tables)."""
    assert corpus(DATA / "migrations" / "plain-sqlx-axum-social", "postgres", pending_from) == []
    assert corpus(DATA / "migrations" / "timestamp-sqlx-todos", "postgres", 0) == []


def test_kestra_after_its_first_release() -> None:
    """Kestra's Flyway history with V1_1 applied: the known risky files are flagged, each at
    its line, and the files that create their own tables are not."""
    found = corpus(DATA / "migrations" / "flyway-kestra", "postgres", pending_from=1)
    by_file = {line.split(":")[0] for line in found}
    assert "flyway-kestra/V1_13__log_fulltext.sql" in by_file
    assert any(line.startswith("flyway-kestra/V1_13__log_fulltext.sql:1: DROP COLUMN fulltext") for line in found)
    assert any(
        line.startswith("flyway-kestra/V1_14__subflow_executions.sql:1: RENAME TO renames workertaskexecutions")
        for line in found
    )
    assert any(
        line.startswith("flyway-kestra/V1_10__multitenant_indices.sql:3: CREATE INDEX on flows") for line in found
    )
    # V1_2 creates worker_instance, V1_20 drops it: created in the same pending set
    assert not any("V1_20__drop_worker_instance" in line for line in found)
    assert not any("V1_2__worker_heartbeat" in line for line in found)
