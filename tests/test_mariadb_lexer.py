"""The MariaDB/MySQL lexer (the mariadb engine's): statements as the mysql client splits
them, its own commands, the normalised checksum; and a MariaDB project's migrations
through build, read by that lexer and not psql's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _compile import compile_dir

from clockwork_compose._engines import mariadb, postgres
from clockwork_compose._engines.mariadb_lexer import DIALECT, legacy_checksums
from clockwork_compose._errors import DeclarationError
from clockwork_compose._migrations import MigrationError, plan_for

scan, checksum = DIALECT.scan, DIALECT.checksum

DATA = Path(__file__).parent / "data" / "mariadb"


def firsts(text: str) -> list[tuple[int, str]]:
    return [(s.line, s.words[0]) for s in scan(text).statements]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# it's a comment\nSELECT 1;", [(2, "SELECT")]),
        ("SELECT 1; # it's; a comment\nSELECT 2;", [(1, "SELECT"), (2, "SELECT")]),
        ("-- it's a comment; too\nSELECT 1;", [(2, "SELECT")]),
        ("--it's a comment where no statement started\nSELECT 1;", [(2, "SELECT")]),
        ("SELECT 1--1;\nSELECT 2;", [(1, "SELECT"), (2, "SELECT")]),  # mid-statement: two minus signs
        ("SELECT 1 --\tit's a comment;\nSELECT 2;", [(1, "SELECT")]),  # a tab after -- makes a comment
        ("SELECT 'it''s;';\nSELECT 2;", [(1, "SELECT"), (2, "SELECT")]),
        ("SELECT 'it\\'s;';\nSELECT 2;", [(1, "SELECT"), (2, "SELECT")]),
        ('SELECT "a\\";b";\nSELECT 2;', [(1, "SELECT"), (2, "SELECT")]),
        ("CREATE TABLE `o'brien` (id INT);\nDROP TABLE `o'brien`;", [(1, "CREATE"), (2, "DROP")]),
        ("CREATE TABLE `a``;b` (id INT);\nSELECT 2;", [(1, "CREATE"), (2, "SELECT")]),
        ("/* it's ; a comment */ SELECT 1;", [(1, "SELECT")]),
        ("/*!40101 SET @a = 1 */;\nSELECT 2;", [(1, "SET"), (2, "SELECT")]),
        ("/*M!100100 SET @a = 1 */;\nSELECT 2;", [(1, "SET"), (2, "SELECT")]),
        (
            "DELIMITER //\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND //\nDELIMITER ;\nCALL p();",
            [(2, "CREATE"), (8, "CALL")],
        ),
        ("delimiter $$\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a = 1; END$$", [(2, "CREATE")]),
        ("\\d //\nSELECT 1; SELECT 2//\n\\d ;\nSELECT 3;", [(2, "SELECT"), (4, "SELECT")]),
        ("SELECT 1 \\G\nSELECT 2\\g", [(1, "SELECT"), (2, "SELECT")]),
        ("SELECT \\N;", [(1, "SELECT")]),
    ],
)
def test_statements_split_as_the_mysql_client_splits_them(text: str, expected: list[tuple[int, str]]) -> None:
    script = scan(text)
    assert script.unterminated is None
    assert firsts(text) == expected


def test_client_commands_are_found_with_their_line_whichever_way_they_are_written() -> None:
    text = (
        "SELECT 1;\nsource lib/x.sql\n\\. lib/y.sql\nUSE other;\n\\u other\nCONNECT other\n"
        "\\r other\nquit\n\\q\nsystem ls\n\\! ls\nDELIMITER ;;\nSELECT 2;;\n"
    )
    assert [(m.line, m.command, m.argument) for m in scan(text).metas] == [
        (2, "source", "lib/x.sql"),
        (3, "source", "lib/y.sql"),
        (4, "use", "other"),
        (5, "use", "other"),
        (6, "connect", "other"),
        (7, "connect", "other"),
        (8, "quit", ""),
        (9, "quit", ""),
        (10, "system", "ls"),
        (11, "system", "ls"),
        (12, "delimiter", ";;"),
    ]
    assert [(s.line, s.words[0]) for s in scan(text).statements] == [(1, "SELECT"), (13, "SELECT")]


def test_a_word_that_names_a_command_inside_a_statement_is_sql() -> None:
    script = scan("CREATE TABLE t (status INT, `use` INT);\nSELECT status FROM t;\n")
    assert script.metas == ()
    assert firsts("CREATE TABLE t (status INT);\nSELECT status FROM t;\n") == [(1, "CREATE"), (2, "SELECT")]


def test_checksum_ignores_comments_blanks_and_line_endings() -> None:
    base = checksum("CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n")
    variants = [
        "# it's a comment\r\nCREATE  TABLE t\r\n  (id INT);  /* c */\r\nINSERT INTO t VALUES (1); -- end",
        "\ufeffCREATE TABLE t (id INT); INSERT INTO t VALUES (1);",
    ]
    assert [checksum(v) for v in variants] == [base, base]


def test_checksum_sees_every_change_that_matters() -> None:
    base = checksum("INSERT INTO t VALUES ('a b');")
    assert checksum("INSERT INTO t VALUES ('a  b');") != base  # inside a literal
    assert checksum("SELECT 1 - -1;") != checksum("SELECT 1 --1;")  # the second is a comment
    assert checksum("/*!50003 SET @a = 1 */;") != checksum("/*!50003 SET @a = 2 */;")  # executable: SQL
    assert checksum("/*!50003 SET @a = 1 */;") != checksum("/* SET @a = 1 */;")
    assert checksum("SELECT `a` `b`;") != checksum("SELECT `a``b`;")


@pytest.mark.parametrize(
    ("text", "unterminated"),
    [
        ("SELECT 1;\nSELECT 'open;\n", (2, "string")),
        ("SELECT 'it\\';\n", (1, "string")),
        ("SELECT `open;\n", (1, "`quoted` identifier")),
        ("/* open\n", (1, "/* comment")),
        ("SELECT 1;\n/*!50003 SELECT 2;\n", (2, "/*! comment")),
    ],
)
def test_an_unterminated_literal_is_reported_with_its_line(text: str, unterminated: tuple[int, str]) -> None:
    assert scan(text).unterminated == unterminated


def test_legacy_checksum_is_the_one_psql_s_lexer_recorded_when_it_differs() -> None:
    """Before MariaDB had its own lexer, psql's read its files: a file applied then keeps
    counting as the same file."""
    from clockwork_compose._engines.postgres_lexer import DIALECT as PSQL

    psql_checksum = PSQL.checksum

    plain = "CREATE TABLE t (id INT);\n"
    assert legacy_checksums(plain) == ()  # both lexers agree
    hashed = "# a comment\nCREATE TABLE t (id INT);\n"
    assert legacy_checksums(hashed) == (psql_checksum(hashed),) != (checksum(hashed),)
    assert legacy_checksums("# it's\nSELECT 1;\n") == ()  # psql's lexer could not read it: never applied


def test_the_engines_bring_their_lexers() -> None:
    assert mariadb.ENGINE.migrator is not None and postgres.ENGINE.migrator is not None
    assert mariadb.ENGINE.migrator.dialect().client == "mysql"
    assert postgres.ENGINE.migrator.dialect().client == "psql"
    assert not mariadb.ENGINE.migrator.dialect().transactional


# -- planning with the engine's lexer --------------------------------------------------------


def test_mariadb_migrations_plan_with_mariadb_s_lexer_and_not_psql_s() -> None:
    plan = plan_for(DATA / "migrations", DATA / "schema.sql", engine="mariadb")
    assert plan.versions == ("schema:schema.sql", "001_people.sql", "002_executable.sql", "003_routines.sql")
    assert {step.tx for step in plan.steps} == {"none"}  # DDL commits as it goes: no transaction to keep
    with pytest.raises(MigrationError, match="schema.sql:1: unterminated string"):
        plan_for(DATA / "migrations", DATA / "schema.sql")  # psql's lexer reads `# it's` as a string


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("SELECT 1;\nquit\n", "001_a.sql:2", "QUIT ends the migrator's session"),
        ("SELECT 1;\n\\! rm -rf x\n", "001_a.sql:2", "SYSTEM runs a shell command outside the session"),
        ("source ../outside.sql\n", "001_a.sql:1", "SOURCE ../outside.sql leaves the migrations folder"),
        ("SELECT 'open;\n", "001_a.sql:1", "unterminated string"),
    ],
)
def test_mariadb_refusals_name_file_line_and_command(tmp_path: Path, text: str, where: str, problem: str) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "001_a.sql").write_text(text)
    with pytest.raises(MigrationError) as info:
        plan_for(tmp_path / "m", engine="mariadb")
    assert str(info.value).startswith(f"{where}: {problem}"), str(info.value)


def test_a_sourced_file_inside_the_folder_is_checked_too(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "lib").mkdir(parents=True)
    (folder / "001_a.sql").write_text("source lib/x.sql\n")
    (folder / "lib" / "x.sql").write_text("# it's fine\nUSE other;\n")
    with pytest.raises(MigrationError) as info:
        plan_for(folder, engine="mariadb")
    assert str(info.value).startswith("lib/x.sql:2: USE switches to another database"), str(info.value)


MAIN = """\
from clockwork_compose import DatabaseConnection, DockerResource, Secret

db = DockerResource(name="db", image="mariadb:11", env_vars={
    "MARIADB_DATABASE": "shop", "MARIADB_USER": "shop", "MARIADB_PASSWORD": Secret("DB_PASSWORD"),
    "MARIADB_ROOT_PASSWORD": Secret("DB_ROOT_PASSWORD")})
app = DockerResource(name="app", image="nginx:alpine")
app.connect(DatabaseConnection(to_resource=db, schema_file="schema.sql", migrations_dir="migrations"))
"""


def test_a_mariadb_project_with_mysql_syntax_builds(tmp_path: Path) -> None:
    """`#` comments, backticks, o'brien, /*! */ and DELIMITER blocks: build passes, and the
    migrator's command is the plan MariaDB's lexer makes."""
    shutil.copytree(DATA, tmp_path / "proj")
    (tmp_path / "proj" / "main.py").write_text(MAIN)
    model, _, doc = compile_dir(tmp_path / "proj")
    migrator = doc["services"]["db-migrator"]
    expected = plan_for(tmp_path / "proj" / "migrations", tmp_path / "proj" / "schema.sql", engine="mariadb")
    assert migrator["command"] == expected.arguments()
    assert [a.split()[3] for a in migrator["command"]] == list(expected.versions)
    (target,) = [t for t in model.databases if t.migrations]
    assert target.migrations.plan.versions[-1] == "003_routines.sql"


def test_a_mariadb_project_s_bad_migration_is_one_line_naming_the_resource(tmp_path: Path) -> None:
    shutil.copytree(DATA, tmp_path / "proj")
    (tmp_path / "proj" / "main.py").write_text(MAIN)
    (tmp_path / "proj" / "migrations" / "004_bad.sql").write_text("# fine\nUSE other;\n")
    with pytest.raises(DeclarationError) as info:
        compile_dir(tmp_path / "proj")
    message = str(info.value)
    assert message.startswith("resource 'app', field 'migrations_dir': 004_bad.sql:2: USE switches"), message
    assert "\n" not in message
