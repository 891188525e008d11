"""`clockwork migrations lint`: statements that lock a table for long or lose data.

A rule reads one statement's tokens as its engine's lexer splits the file (comments are
gone, a literal is one token, so nothing inside either is ever flagged) and knows the
tables created earlier in the same pending set: a statement on a table that did not
exist before the set runs touches no rows and locks out nobody, so it is never flagged.
Each :class:`Finding` names the line, says why, and gives the safer form.

Rule sets are per client language (``Dialect.lint_rules``): PostgreSQL's and
MariaDB/MySQL's differ where their engines do (an index build, a column type change).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import _sql
from ._migrations import MIGRATIONS, Step

if TYPE_CHECKING:
    from ._model import DatabaseTarget


@dataclass(frozen=True)
class Finding:
    path: str  # as the user sees it (relative to the project folder)
    line: int
    why: str
    safer: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}; safer: {self.safer}"


@dataclass
class _State:
    """What the pending set has done so far: the tables it created (lower case, unqualified)."""

    created: set[str] = field(default_factory=set)


# -- reading a statement's tokens -----------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    line: int
    text: str
    word: str  # upper case for a bare word; "" for a literal, punctuation or a quoted name
    name: str  # the name a word or quoted identifier spells (lower case), else ""


_QUOTES = '"`'


def _tokens(statement: _sql.Statement) -> list[_Token]:
    """Depth-0 tokens of the statement (what is in parentheses is dropped: a column list,
    a type's precision, a default's expression)."""
    out: list[_Token] = []
    depth = 0
    for line, text in statement.tokens:
        if text == "(":
            depth += 1
            continue
        if text == ")":
            depth = max(0, depth - 1)
            continue
        if depth:
            continue
        first = text[0]
        if first in _QUOTES:
            out.append(_Token(line, text, "", text[1:-1].replace(first * 2, first).lower()))
        elif first.isalpha() or first == "_":
            out.append(_Token(line, text, text.upper(), text.lower()))
        else:
            out.append(_Token(line, text, "", ""))
    return out


def _clauses(tokens: list[_Token]) -> list[list[_Token]]:
    """Split at depth-0 commas (an ALTER TABLE's actions)."""
    clauses: list[list[_Token]] = [[]]
    for token in tokens:
        if not token.word and not token.name and "," in token.text:
            clauses.append([])
        elif token.text != ";":
            clauses[-1].append(token)
    return [c for c in clauses if c]


def _skip(tokens: list[_Token], i: int, *words: str) -> int:
    """Past any of ``words`` (in any number, in order given or not) from ``i``."""
    while i < len(tokens) and tokens[i].word in words:
        i += 1
    return i


def _name(tokens: list[_Token], i: int) -> tuple[str, int]:
    """A possibly qualified name at ``i``: its last part, and the index past it."""
    name = ""
    while i < len(tokens) and tokens[i].name:
        name = tokens[i].name
        i += 1
        if i < len(tokens) and tokens[i].text == ".":
            i += 1
            continue
        break
    return name, i


def _words(clause: Sequence[_Token]) -> list[str]:
    return [t.word for t in clause]


def _has(words: Sequence[str], *sequence: str) -> bool:
    n = len(sequence)
    return any(tuple(words[i : i + n]) == sequence for i in range(len(words) - n + 1))


# -- the rules ------------------------------------------------------------------------------

Rule = Callable[[list[_Token], _State, "Report"], None]


class Report:
    """Collects findings for one file (``offset``: the first line of its section, minus 1)."""

    def __init__(self, path: str, offset: int) -> None:
        self.path, self.offset = path, offset
        self.findings: list[Finding] = []

    def add(self, token: _Token, why: str, safer: str) -> None:
        self.findings.append(Finding(self.path, token.line + self.offset, why, safer))


_NOT_A_COLUMN = frozenset(
    {"CONSTRAINT", "INDEX", "KEY", "PRIMARY", "FOREIGN", "DEFAULT", "NOT", "IDENTITY", "EXPRESSION"}
    | {"PARTITION", "CHECK", "TRIGGER", "UNIQUE", "SYSTEM", "PERIOD", "FULLTEXT", "SPATIAL", "RULE"}
)

DROP_COLUMN_SAFER = "stop reading and writing the column in the app first, drop it in a later release"
RENAME_SAFER = (
    "add the new name beside the old one (a new column kept in sync, or a view), move the app over, "
    "drop the old one in a later release"
)
REWRITE_SAFER = "add a new column of the new type, backfill it in batches, switch the app over, drop the old one"


def _drop_table(tokens: list[_Token], state: _State, report: Report) -> None:
    words = _words(tokens)
    if words[:2] != ["DROP", "TABLE"]:
        return
    i = _skip(tokens, 2, "IF", "EXISTS", "TEMPORARY")
    names = []
    while i < len(tokens):
        name, i = _name(tokens, i)
        if name:
            names.append(name)
        i += 1
    kept = [n for n in names if n not in state.created]
    if kept:
        report.add(
            tokens[0],
            f"DROP TABLE {', '.join(kept)} deletes the table and its data, and a running app still using it fails",
            "stop using the table in the app first, back it up, drop it in a later release",
        )


def _truncate(tokens: list[_Token], state: _State, report: Report) -> None:
    if tokens[0].word != "TRUNCATE":
        return
    name, _ = _name(tokens, _skip(tokens, 1, "TABLE", "ONLY"))
    if name and name not in state.created:
        report.add(
            tokens[0],
            f"TRUNCATE {name} deletes every row (and takes an exclusive lock)",
            "delete the rows you mean to in batches with DELETE ... WHERE, after a backup",
        )


def _delete_all(tokens: list[_Token], state: _State, report: Report) -> None:
    words = _words(tokens)
    if words[:2] != ["DELETE", "FROM"] or "WHERE" in words:
        return
    name, _ = _name(tokens, _skip(tokens, 2, "ONLY"))
    if name and name not in state.created:
        report.add(
            tokens[0],
            f"DELETE FROM {name} without WHERE deletes every row",
            "add the WHERE clause you mean, and delete in batches",
        )


def _create_table(tokens: list[_Token], state: _State, report: Report) -> None:
    words = _words(tokens)
    i = _skip(tokens, 1, "OR", "REPLACE", "TEMPORARY", "TEMP", "UNLOGGED", "GLOBAL", "LOCAL")
    if words[:1] == ["CREATE"] and i < len(words) and words[i] == "TABLE":
        name, _ = _name(tokens, _skip(tokens, i + 1, "IF", "NOT", "EXISTS"))
        state.created.add(name)


def _rename_table(tokens: list[_Token], state: _State, report: Report) -> None:
    """MariaDB/MySQL's RENAME TABLE a TO b."""
    if _words(tokens)[:2] != ["RENAME", "TABLE"]:
        return
    name, _ = _name(tokens, 2)
    if name not in state.created:
        report.add(
            tokens[0], f"RENAME TABLE {name} breaks the running app, which still uses the old name", RENAME_SAFER
        )


def _alter_table(tokens: list[_Token]) -> tuple[str, list[list[_Token]]] | None:
    """The table an ALTER TABLE changes, and its actions; None for any other statement."""
    words = _words(tokens)
    if words[:1] != ["ALTER"]:
        return None
    i = _skip(tokens, 1, "ONLINE", "IGNORE")
    if i >= len(words) or words[i] != "TABLE":
        return None
    name, i = _name(tokens, _skip(tokens, i + 1, "IF", "EXISTS", "ONLY"))
    return name, _clauses(tokens[i:])


def _postgres_alter(tokens: list[_Token], state: _State, report: Report) -> None:
    found = _alter_table(tokens)
    if found is None or found[0] in state.created:
        return
    table, clauses = found
    for clause in clauses:
        words = _words(clause)
        _common_action(table, clause, words, report, engine="postgres")
        if words[:1] == ["ALTER"]:
            column = clause[2 if words[1:2] == ["COLUMN"] else 1].name
            rest = words[3 if words[1:2] == ["COLUMN"] else 2 :]
            if rest[:1] == ["TYPE"] or rest[:3] == ["SET", "DATA", "TYPE"]:
                report.add(
                    clause[0],
                    f"ALTER COLUMN {column} TYPE rewrites {table} under an ACCESS EXCLUSIVE lock "
                    "(reads and writes wait) unless the new type is binary-compatible",
                    REWRITE_SAFER,
                )
            elif rest[:3] == ["SET", "NOT", "NULL"]:
                report.add(
                    clause[0],
                    f"SET NOT NULL on {column} scans all of {table} under an ACCESS EXCLUSIVE lock",
                    f"ADD CONSTRAINT ... CHECK ({column} IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT in a "
                    "later statement, then SET NOT NULL (PostgreSQL 12+ uses the valid check)",
                )
        elif words[:1] == ["ADD"] and ("FOREIGN" in words or "CHECK" in words) and not _has(words, "NOT", "VALID"):
            what = "FOREIGN KEY" if "FOREIGN" in words else "CHECK"
            report.add(
                clause[0],
                f"ADD {what} checks every row of {table} while it blocks writes to it",
                "add it NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later statement",
            )


def _mariadb_alter(tokens: list[_Token], state: _State, report: Report) -> None:
    found = _alter_table(tokens)
    if found is None or found[0] in state.created:
        return
    table, clauses = found
    chosen = "ALGORITHM" in _words(tokens)  # the server refuses a copy it was not allowed
    for clause in clauses:
        words = _words(clause)
        _common_action(table, clause, words, report, engine="mariadb")
        if words[:1] in (["MODIFY"], ["CHANGE"]):
            at = 2 if words[1:2] == ["COLUMN"] else 1
            at = _skip(clause, at, "IF", "EXISTS")
            column = clause[at].name if at < len(clause) else ""
            if words[0] == "CHANGE" and at + 1 < len(clause) and clause[at + 1].name != column:
                report.add(
                    clause[0],
                    f"CHANGE {column} {clause[at + 1].name} renames a column the running app still uses",
                    RENAME_SAFER,
                )
            elif not chosen:
                report.add(
                    clause[0],
                    f"{words[0]} COLUMN {column} may copy all of {table} and block writes while it does "
                    "(a type change always does)",
                    "say ALGORITHM=INSTANT or ALGORITHM=INPLACE, LOCK=NONE so the server refuses a copy; "
                    f"or {REWRITE_SAFER}",
                )


def _common_action(table: str, clause: list[_Token], words: list[str], report: Report, *, engine: str) -> None:
    """The actions both engines share: DROP COLUMN, RENAME, ADD COLUMN ... NOT NULL."""
    if words[:1] == ["DROP"]:
        at = 2 if words[1:2] == ["COLUMN"] else 1
        if at == 1 and (len(words) < 2 or words[1] in _NOT_A_COLUMN):
            return
        at = _skip(clause, at, "IF", "EXISTS")
        column = clause[at].name if at < len(clause) else ""
        report.add(clause[0], f"DROP COLUMN {column} deletes the column's data of {table}", DROP_COLUMN_SAFER)
    elif words[:1] == ["RENAME"]:
        if words[1:2] == ["TO"] or words[1:2] == ["AS"]:
            report.add(clause[0], f"RENAME TO renames {table}, which the running app still uses", RENAME_SAFER)
        elif words[1:2] not in (["CONSTRAINT"], ["INDEX"], ["KEY"]):
            at = _skip(clause, 1, "COLUMN")
            report.add(
                clause[0],
                f"RENAME COLUMN {clause[at].name if at < len(clause) else ''} breaks the running app, "
                "which still uses the old name",
                RENAME_SAFER,
            )
    elif words[:1] == ["ADD"] and _has(words, "NOT", "NULL") and "DEFAULT" not in words:
        at = _skip(clause, 1, "COLUMN", "IF", "NOT", "EXISTS")
        if at < len(clause) and clause[at].word in _NOT_A_COLUMN - {"NOT", "DEFAULT"}:
            return
        column = clause[at].name if at < len(clause) else ""
        if _has(words, "GENERATED") or "AUTO_INCREMENT" in words or "SERIAL" in words or "BIGSERIAL" in words:
            return  # the engine fills it
        why = (
            f"ADD COLUMN {column} NOT NULL without DEFAULT fails on {table} once it has rows"
            if engine == "postgres"
            else f"ADD COLUMN {column} NOT NULL without DEFAULT fills {table}'s rows with the type's "
            "implicit value (0, '') the app never wrote"
        )
        report.add(clause[0], why, "give it a DEFAULT, or add it NULL, backfill, then make it NOT NULL")


def _postgres_index(tokens: list[_Token], state: _State, report: Report) -> None:
    words = _words(tokens)
    i = _skip(tokens, 1, "UNIQUE")
    if words[:1] != ["CREATE"] or i >= len(words) or words[i] != "INDEX" or "CONCURRENTLY" in words[: i + 2]:
        return
    if "ON" not in words:
        return
    name, _ = _name(tokens, _skip(tokens, words.index("ON") + 1, "ONLY"))
    if name and name not in state.created:
        report.add(
            tokens[0],
            f"CREATE INDEX on {name} blocks writes to it until the index is built",
            "CREATE INDEX CONCURRENTLY, in a file of its own marked -- clockwork:no-transaction",
        )


RULES: dict[str, tuple[Rule, ...]] = {
    "postgres": (_create_table, _drop_table, _truncate, _delete_all, _postgres_alter, _postgres_index),
    "mariadb": (_create_table, _drop_table, _truncate, _delete_all, _rename_table, _mariadb_alter),
}


# -- files ----------------------------------------------------------------------------------


def lint_text(
    text: str, path: str, dialect: _sql.Dialect, state: _State | None = None, offset: int = 0
) -> list[Finding]:
    """The findings in one script's text (``offset``: lines before it in its file)."""
    state = state if state is not None else _State()
    report = Report(path, offset)
    rules = RULES[dialect.lint_rules]
    for statement in dialect.scan_tokens(text).statements:
        tokens = _tokens(statement)
        if not tokens:
            continue
        for rule in rules:
            rule(tokens, state, report)
    return report.findings


def lint_steps(steps: Iterable[Step], folder: Path, shown: str, dialect: _sql.Dialect) -> list[Finding]:
    """The findings in the plan's steps, in plan order (a table one creates is new for the
    next). ``folder``: the migrations folder on disk; ``shown``: how messages write it."""
    state = _State()
    findings: list[Finding] = []
    prefix = f"{MIGRATIONS}/"
    for step in steps:
        if step.kind == "schema" or not step.path.startswith(prefix):
            continue
        rel = step.path.removeprefix(prefix)
        text = (folder / rel).read_bytes().decode("utf-8", "surrogateescape")
        offset = 0
        if step.lines is not None:
            first, last = step.lines
            text = "".join(text.splitlines(keepends=True)[first - 1 : last])
            offset = first - 1
        findings += lint_text(text, f"{shown}/{rel}", dialect, state, offset)
    return findings


def lint_target(project_dir: Path, target: DatabaseTarget, steps: list[Step]) -> list[Finding]:
    """The findings in ``steps`` of the target's plan, in order; paths as the project names them."""
    from ._engines import engine_named

    migrations = target.migrations
    engine = engine_named(target.engine)
    if migrations is None or migrations.migrations_dir is None or engine is None or engine.migrator is None:
        return []
    folder = migrations.migrations_dir.rstrip("/")
    return lint_steps(steps, project_dir / folder, folder, engine.migrator.dialect())
