"""The psql lexer (the postgres engine's): statements, meta-commands, variables and the normalised checksum."""

from __future__ import annotations

import pytest

from clockwork_compose._engines.postgres_lexer import DIALECT

scan, checksum = DIALECT.scan, DIALECT.checksum


def firsts(text: str) -> list[tuple[int, str]]:
    return [(s.line, s.words[0]) for s in scan(text).statements]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 'a;b'; SELECT 2;", [(1, "SELECT"), (1, "SELECT")]),
        ("SELECT 'it''s;';\nSELECT 2;", [(1, "SELECT"), (2, "SELECT")]),
        ("SELECT E'\\';';\nSELECT 2;", [(1, "SELECT"), (2, "SELECT")]),
        ('CREATE TABLE "a;b" (x int);\nDROP TABLE "a;b";', [(1, "CREATE"), (2, "DROP")]),
        ("DO $$ BEGIN; COMMIT; END $$;\nSELECT 1;", [(1, "DO"), (2, "SELECT")]),
        ("DO $x$ $$ ; $$ $x$;\nSELECT 1;", [(1, "DO"), (2, "SELECT")]),
        ("-- a ; comment\nSELECT 1;", [(2, "SELECT")]),
        ("/* a /* nested ; */ still ; */ SELECT 1;", [(1, "SELECT")]),
        ("SELECT (1;\n2);", [(1, "SELECT")]),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\n"
            " SELECT CASE WHEN true THEN 2 END;\nEND;\nSELECT 3;",
            [(1, "CREATE"), (6, "SELECT")],
        ),
        ("SELECT a$b$c FROM t; SELECT 2;", [(1, "SELECT"), (1, "SELECT")]),
    ],
)
def test_statements_split_as_psql_splits_them(text: str, expected: list[tuple[int, str]]) -> None:
    assert firsts(text) == expected


def test_meta_commands_and_backticks_are_found_with_their_line() -> None:
    script = scan("SELECT 1;\n\\i other.sql\n\\set x `cat data/x.json`\n\\q\n")
    assert [(m.line, m.command, m.argument) for m in script.metas] == [
        (2, "i", "other.sql"),
        (3, "set", "x `cat data/x.json`"),
        (4, "q", ""),
    ]
    assert script.backticks == ((3, "cat data/x.json"),)


def test_variables_outside_literals_only() -> None:
    text = (
        "SELECT a::int, :one, :'two', :\"three\" FROM t;\n"
        "SELECT ':no', \":no\" -- :no\n;\n"
        "DO $$ DECLARE x int := 1; BEGIN PERFORM :no; END $$;\n"
        "/* :no */ SELECT 1;\n"
    )
    assert [(v.line, v.name) for v in scan(text).variables] == [(1, "one"), (1, "two"), (1, "three")]


def test_checksum_ignores_comments_blanks_and_line_endings() -> None:
    base = checksum("CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n")
    assert checksum("-- a comment\r\nCREATE  TABLE t\r\n  (id int);  /* c */\r\nINSERT INTO t VALUES (1);") == base
    assert checksum("\ufeffCREATE TABLE t (id int); INSERT INTO t VALUES (1);") == base


def test_checksum_sees_every_change_that_matters() -> None:
    base = checksum("INSERT INTO t VALUES ('a b');")
    assert checksum("INSERT INTO t VALUES ('a  b');") != base  # inside a literal
    assert checksum("INSERT INTO t VALUES ('a b'); INSERT INTO t VALUES ('c');") != base
    assert checksum("SELECT 1 - -1;") != checksum("SELECT 1 --1;")
    assert checksum("SELECT E 'x';") != checksum("SELECT E'x';")


def test_unterminated_literal_is_reported_with_its_line() -> None:
    assert scan("SELECT 1;\nSELECT 'open;\n").unterminated == (2, "string")
    assert scan("DO $$ BEGIN\n").unterminated == (1, "$$ quoted body")
    assert scan("/* /* */\n").unterminated == (1, "/* comment")


def test_copy_from_stdin_data_is_data() -> None:
    text = (
        "COPY public.t (a, b) FROM stdin;\n1\tit's a:b\n2\thttp://x;y\n\\.\n"
        "SELECT :'v';\n\\copy t from stdin\nx:y\n\\.\nSELECT 2;\n"
    )
    script = scan(text)
    assert [(s.line, s.words[0]) for s in script.statements] == [(1, "COPY"), (5, "SELECT"), (9, "SELECT")]
    assert [v.name for v in script.variables] == ["v"]
    assert script.unterminated is None
    assert checksum(text) != checksum(text.replace("it's", "its"))  # the data counts
    assert checksum(text) == checksum(text.replace("\n", "\r\n"))
