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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Statement:
    """A statement the server runs: where it starts and its first words."""

    line: int  # where its first word is, 1-based
    words: tuple[str, ...]  # its first words, upper case (at most 8)
    #: Every token the server gets, as (line, text), outside comments: only when the scan
    #: was asked for them (``Scanner.read(text, tokens=True)``; lint reads them).
    tokens: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Meta:
    """A command of the client itself (psql's ``\\i file`` is ``Meta(line, "i", "file")``,
    the mysql client's ``source file`` is ``Meta(line, "source", "file")``)."""

    line: int
    command: str
    argument: str


@dataclass(frozen=True)
class Variable:
    """A reference to a client variable (psql's ``:name``) at ``line``."""

    line: int
    name: str


@dataclass(frozen=True)
class Script:
    """What a scan found in a file's text: its statements, client commands and variables."""

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


class Scanner:
    """What every lexer keeps while it scans a text: where it is, the normalised text so far
    (tokens; a blank only where dropping it would join two tokens), and what it found. A
    lexer subclasses it with its ``run`` and its :meth:`joins`."""

    def __init__(self, text: str, tokens: bool = False) -> None:
        self.text = text
        self.keep_tokens = tokens
        self.pos = 0
        self.line = 1
        self.out: list[str] = []
        self.space = False
        self.statements: list[Statement] = []
        self.metas: list[Meta] = []
        self.variables: list[Variable] = []
        self.backticks: list[tuple[int, str]] = []
        self.unterminated: tuple[int, str] | None = None
        self.new_statement()

    #: Characters of a word or literal (two of them side by side read as one token) and of
    #: operators (likewise), as the lexer's language has them.
    wordish: re.Pattern[str]
    operators: frozenset[str]

    def joins(self, left: str, right: str) -> bool:
        """Whether two characters with a blank between them would read as one token without it."""
        both_words = bool(self.wordish.match(left)) and bool(self.wordish.match(right))
        return both_words or (left in self.operators and right in self.operators)

    def new_statement(self) -> None:
        """Forget the statement that ended: its first words, where it started, its parentheses."""
        self.words: list[str] = []
        self.start_line = 0
        self.start_pos = 0
        self.parens = 0
        self.tokens: list[tuple[int, str]] = []

    def statement(self) -> Statement:
        """The statement that ends here."""
        return Statement(self.start_line, tuple(self.words), tuple(self.tokens))

    def emit(self, token: str) -> None:
        if self.space and self.out and self.joins(self.out[-1][-1], token[0]):
            self.out.append(" ")
        self.space = False
        self.out.append(token)
        if self.keep_tokens:
            self.tokens.append((self.line, token))

    def advance(self, end: int) -> str:
        chunk = self.text[self.pos : end]
        self.line += chunk.count("\n")
        self.pos = end
        return chunk

    def token_seen(self) -> None:
        if not self.start_line:
            self.start_line, self.start_pos = self.line, self.pos

    @classmethod
    def read(cls, text: str, tokens: bool = False) -> Script:
        """Scan a script's text (a whole file, or the up section of one); with ``tokens``,
        each statement keeps its tokens."""
        scanner = cls(text.removeprefix("\ufeff"), tokens)
        scanner.run()
        return scanner.script()

    def run(self) -> None:
        raise NotImplementedError

    def script(self) -> Script:
        return Script(
            tuple(self.statements),
            tuple(self.metas),
            tuple(self.variables),
            tuple(self.backticks),
            "".join(self.out).strip(),
            self.unterminated,
        )


@dataclass(frozen=True)
class Dialect:
    """A client's script language, as migration planning needs it."""

    #: The client that runs the files (for messages): ``psql``, ``mysql``.
    client: str
    #: The client's lexer.
    scanner: type[Scanner]
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
    #: Which of ``_lint``'s rule sets reads this client's statements.
    lint_rules: str = ""

    def scan(self, text: str) -> Script:
        """Scan a script's text (a whole file, or the up section of one)."""
        return self.scanner.read(text)

    def scan_tokens(self, text: str) -> Script:
        """Scan a script's text, each statement with its tokens (``clockwork migrations lint``)."""
        return self.scanner.read(text, tokens=True)

    def checksum(self, text: str) -> str:
        """Hex sha256 of the normalised text: comments dropped, whitespace outside literals one blank."""
        return self.scan(text).checksum
