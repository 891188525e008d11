"""What planning knows of a migration script, whichever engine runs it.

Each engine that runs migrations brings a lexer (:mod:`clockwork_compose._engines`:
``postgres_lexer`` for psql's scripts, ``mariadb_lexer`` for the mysql client's). A lexer
scans a file's text into a :class:`Script`: where each statement starts and its first
words, the client's own commands in it (:class:`Meta`), the client variables it refers to,
and a normalised text whose hash (the recorded checksum) ignores comments and whitespace
outside literals. Its :class:`Dialect` tells planning which client commands include a
file, connect elsewhere or leave the session, and whether a file can run all or nothing.

A lexer is a scanner, not a parser: statements are known by their first words only.
Nothing here is compiled at import (``clockwork build`` starts fast); a lexer module is
imported when a build first plans migrations for its engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Statement:
    line: int  # where its first word is, 1-based
    words: tuple[str, ...]  # its first words, upper case (at most 8)


@dataclass(frozen=True)
class Meta:
    """A command of the client itself (psql's ``\\i file`` is ``Meta(line, "i", "file")``,
    the mysql client's ``source file`` is ``Meta(line, "source", "file")``)."""

    line: int
    command: str
    argument: str


@dataclass(frozen=True)
class Variable:
    line: int
    name: str


@dataclass(frozen=True)
class Script:
    statements: tuple[Statement, ...]
    metas: tuple[Meta, ...]
    variables: tuple[Variable, ...]  # references to client variables, in client commands too
    backticks: tuple[tuple[int, str], ...]  # (line, shell command) the client runs
    normalized: str
    #: A literal, comment or block still open at the end: (line it opened, what it is).
    unterminated: tuple[int, str] | None = None

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.normalized.encode()).hexdigest()


@dataclass(frozen=True)
class Dialect:
    """A client's script language, as migration planning needs it."""

    #: The client that runs the files (for messages): ``psql``, ``mysql``.
    client: str
    scan: Callable[[str], Script]
    #: Client commands that run another file in the session: command -> True when the path
    #: is relative to the including file, False when to the client's working folder.
    includes: Mapping[str, bool]
    #: Client commands that connect to another database or as another user, and what they
    #: do, for messages.
    switches: frozenset[str]
    switch_phrase: str
    #: Client commands that end the file early or act outside its session, and what they do.
    leaves: Mapping[str, str]
    #: Whether a file can run inside one transaction (DDL is transactional). Where it cannot,
    #: every file runs as it is, and the commands in ``leaves`` are refused everywhere.
    transactional: bool
    #: Statements the engine refuses inside a transaction block (first words -> True).
    outside_transaction: Callable[[tuple[str, ...]], bool] = lambda words: False
    #: Whether the client substitutes variables (``:name``) that must be declared.
    substitutes_variables: bool = False
    #: The client's own variables, always defined.
    builtin_variables: frozenset[str] = frozenset()
    #: How a file refers to a declared variable, for messages.
    variable_syntax: str = ""
    #: Checksums an earlier clockwork recorded for the same text (its psql lexer read every
    #: engine's files): the driver accepts them for a file applied then.
    legacy_checksums: Callable[[str], tuple[str, ...]] = field(default=lambda text: ())
    #: How a message writes a client command: psql's ``\\c``, the mysql client's ``USE``.
    show: Callable[[str], str] = lambda command: "\\" + command
