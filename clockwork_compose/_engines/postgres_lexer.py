"""A small lexer for PostgreSQL scripts as psql reads them.

Enough of psql's own scanner to decide things at build time without a server: where each
statement starts (``'...'`` and ``E'...'`` strings, ``"..."`` identifiers, ``$tag$`` bodies,
``--`` and nested ``/* */`` comments, parentheses and ``BEGIN ATOMIC`` bodies do not end
one), which backslash meta-commands a file runs, which psql variables (``:name``,
``:'name'``, ``:"name"``) it refers to, and a normalised text whose hash ignores comments
and whitespace outside literals, so a comment or line-ending edit leaves it unchanged.

It is a scanner, not a parser: statements are known by their first words only. Its
character classes are written as negations of ASCII (``[^\x00-...]``): a class that spells
out the range up to U+10FFFF costs milliseconds to compile, at every start-up.
"""

from __future__ import annotations

import re

from .._sql import Dialect, Meta, Scanner, Variable

#: psql's own variables, always defined in a session.
BUILTIN_VARIABLES = frozenset(
    {
        "AUTOCOMMIT",
        "DBNAME",
        "ECHO",
        "ECHO_HIDDEN",
        "ENCODING",
        "ERROR",
        "FETCH_COUNT",
        "HOST",
        "LASTOID",
        "LAST_ERROR_MESSAGE",
        "LAST_ERROR_SQLSTATE",
        "ON_ERROR_ROLLBACK",
        "ON_ERROR_STOP",
        "PORT",
        "PROMPT1",
        "PROMPT2",
        "PROMPT3",
        "QUIET",
        "ROW_COUNT",
        "SERVER_VERSION_NAME",
        "SERVER_VERSION_NUM",
        "SHOW_CONTEXT",
        "SINGLELINE",
        "SINGLESTEP",
        "SQLSTATE",
        "USER",
        "VERBOSITY",
        "VERSION",
        "VERSION_NAME",
        "VERSION_NUM",
    }
)


_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_WORD = re.compile(r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*")
_DOLLAR_TAG = re.compile(r"\$(?:[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)?\$")
_VARIABLE = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
_QUOTED_VARIABLE = re.compile(r":(['\"])([A-Za-z0-9_]+)\1")
_META = re.compile(r"\\([A-Za-z]+|!|\?|\\)?")
_OTHER = re.compile(r"[\x00-\x08\x0e-\x1f!#%&*+,.0-9<=>?@\[\]^`{|}~\x7f]+|.", re.S)
_ROUTINE = ("CREATE", "OR", "REPLACE", "FUNCTION", "PROCEDURE")


_WORDISH = re.compile(r"[^\x00-\x21\x23\x25-\x26\x28-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]")
_OPERATOR = frozenset("+-*/<>=~!@#%^&|`?.:")


class _Scanner(Scanner):
    wordish = _WORDISH
    operators = _OPERATOR

    # -- statements ----------------------------------------------------------------------

    def new_statement(self) -> None:
        super().new_statement()
        self.begin_depth = 0
        self.idents = 0
        self.routine: list[str] = []

    def _end_statement(self) -> None:
        if self.start_line:
            self.statements.append(self.statement())
        self.new_statement()

    def _word(self, word: str) -> None:
        self.token_seen()
        upper = word.upper()
        if len(self.words) < 8 and self.parens == 0:
            self.words.append(upper)
        # psql's heuristic: in CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN ... END (and
        # CASE ... END inside it) hold semicolons that do not end the statement.
        if self.idents < 4 and upper in _ROUTINE:
            self.routine.append(upper)
        self.idents += 1
        if self.parens or not self._in_routine():
            return
        if upper == "BEGIN" or (upper == "CASE" and self.begin_depth):
            self.begin_depth += 1
        elif upper == "END" and self.begin_depth:
            self.begin_depth -= 1

    def _in_routine(self) -> bool:
        r = self.routine
        return (
            bool(r)
            and r[0] == "CREATE"
            and (
                (len(r) > 1 and r[1] in ("FUNCTION", "PROCEDURE"))
                or (len(r) > 3 and r[1:3] == ["OR", "REPLACE"] and r[3] in ("FUNCTION", "PROCEDURE"))
            )
        )

    # -- the scan ------------------------------------------------------------------------

    def run(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n and self.unterminated is None:
            c = text[self.pos]
            if c in " \t\r\n\f\v":
                self.advance(_SPACE.match(text, self.pos).end())  # type: ignore[union-attr]
                self.space = True
            elif c == "-" and text.startswith("--", self.pos):
                end = text.find("\n", self.pos)
                self.advance(n if end < 0 else end)
                self.space = True
            elif c == "/" and text.startswith("/*", self.pos):
                self._block_comment()
            elif c == "'":
                self._string(escapes=False)
            elif c == '"':
                self._quoted('"', "quoted identifier")
            elif c == "$":
                self._dollar()
            elif c == ":":
                self._colon()
            elif c == "\\":
                self._meta()
            elif c == ";":
                self.emit(self.advance(self.pos + 1))
                if self.parens == 0 and self.begin_depth == 0:
                    copy_in = _copy_from_stdin(self.words)
                    self._end_statement()
                    if copy_in:
                        self._copy_data()
            elif c == "(" or c == ")":
                self.token_seen()
                self.parens = max(0, self.parens + (1 if c == "(" else -1))
                self.emit(self.advance(self.pos + 1))
            else:
                word = _WORD.match(text, self.pos)
                if word is None:
                    self.token_seen()
                    self.emit(self.advance(_OTHER.match(text, self.pos).end()))  # type: ignore[union-attr]
                    continue
                value = word.group()
                if value in ("E", "e") and text.startswith("'", word.end()):
                    self.emit(self.advance(word.end()))
                    self._string(escapes=True, glued=True)
                else:
                    self._word(value)
                    self.emit(self.advance(word.end()))
        self._end_statement()

    def _block_comment(self) -> None:
        text, start, depth, i = self.text, self.line, 0, self.pos
        while True:
            opening, closing = text.find("/*", i), text.find("*/", i)
            if closing < 0:
                self.unterminated = (start, "/* comment")
                self.advance(len(text))
                return
            if 0 <= opening < closing:
                depth, i = depth + 1, opening + 2
                continue
            depth, i = depth - 1, closing + 2
            if depth == 0:
                self.advance(i)
                self.space = True
                return

    def _string(self, *, escapes: bool, glued: bool = False) -> None:
        text, start, i = self.text, self.line, self.pos + 1
        while True:
            quote = text.find("'", i)
            if escapes:
                backslash = text.find("\\", i)
                if 0 <= backslash < quote:
                    i = backslash + 2
                    continue
            if quote < 0:
                self.unterminated = (start, "string")
                self.advance(len(text))
                return
            if text.startswith("''", quote):
                i = quote + 2
                continue
            self.token_seen()
            literal = self.advance(quote + 1)
            if glued:
                self.out.append(literal)
            else:
                self.emit(literal)
            return

    def _quoted(self, mark: str, what: str) -> None:
        text, start, i = self.text, self.line, self.pos + 1
        while True:
            end = text.find(mark, i)
            if end < 0:
                self.unterminated = (start, what)
                self.advance(len(text))
                return
            if text.startswith(mark * 2, end):
                i = end + 2
                continue
            self.token_seen()
            self.emit(self.advance(end + 1))
            if self.parens == 0 and len(self.words) < 8:
                self.words.append('"')  # a quoted name: never a keyword
            return

    def _dollar(self) -> None:
        text = self.text
        tag = _DOLLAR_TAG.match(text, self.pos)
        glued = self.pos > 0 and (text[self.pos - 1].isalnum() or text[self.pos - 1] in "_$")
        if tag is None or glued:
            self.token_seen()
            self.emit(self.advance(self.pos + 1))
            return
        end = text.find(tag.group(), tag.end())
        if end < 0:
            self.unterminated = (self.line, f"{tag.group()} quoted body")
            self.advance(len(text))
            return
        self.token_seen()
        self.emit(self.advance(end + len(tag.group())))

    def _colon(self) -> None:
        text, pos = self.text, self.pos
        self.token_seen()
        if text.startswith("::", pos) or text.startswith(":=", pos):
            self.emit(self.advance(pos + 2))
            return
        match = _VARIABLE.match(text, pos) or _QUOTED_VARIABLE.match(text, pos)
        if match is not None:
            self.variables.append(Variable(self.line, match.group(match.lastindex or 1)))
            self.emit(self.advance(match.end()))
            return
        self.emit(self.advance(pos + 1))

    def _meta(self) -> None:
        """A backslash command: its name, and its arguments to the end of the line."""
        text, line = self.text, self.line
        match = _META.match(text, self.pos)
        command = (match.group(1) if match else None) or ""
        self.advance(match.end() if match else self.pos + 1)
        if command == "\\":  # the \\ separator: SQL continues on the line
            self.space = True
            return
        end = text.find("\n", self.pos)
        end = len(text) if end < 0 else end
        # "\\" ends the arguments early, the rest of the line is SQL again.
        separator = text.find("\\\\", self.pos, end)
        stop = end if separator < 0 else separator
        argument = self.advance(stop)
        # The normalised text keeps the line as it is (checksums of applied files stay what
        # they were); the commands psql runs from it are each recorded.
        for name, arguments in _commands(command, argument):
            self.metas.append(Meta(line, name, arguments.strip()))
        for ticked in re.finditer(r"`([^`]*)`", argument):
            self.backticks.append((line, ticked.group(1)))
        for name in _VARIABLE.finditer(argument):
            self.variables.append(Variable(line, name.group(1)))
        for name in _QUOTED_VARIABLE.finditer(argument):
            self.variables.append(Variable(line, name.group(2)))
        normal = " ".join(argument.split())
        self.emit("\\" + command + (" " + normal if normal else ""))
        self.out.append("\n")
        self.space = False
        runs = [name for name, _ in _commands(command, argument)]
        if any(name.startswith("g") for name in runs):  # \g, \gset, \gexec... send the query buffer
            self._end_statement()
        if command == "copy" and re.search(r"\bfrom\s+(stdin|pstdin)\b", argument, re.I):
            self._copy_data()

    def _copy_data(self) -> None:
        """COPY ... FROM stdin: the lines after the command, up to a line ``\\.``, are data."""
        text = self.text
        end = text.find("\n", self.pos)
        if end < 0:
            return
        self.advance(end + 1)
        match = _END_OF_DATA.search(text, self.pos)
        stop = len(text) if match is None else match.end()
        self.out.append("\n" + text[self.pos : stop].replace("\r\n", "\n").rstrip("\r"))
        self.advance(stop)
        self.space = True


_END_OF_DATA = re.compile(r"^\\\.\r?$", re.M)
#: Meta-commands whose argument is the rest of the line, backslashes included (psql's
#: OT_WHOLE_LINE), and those whose argument may be ``|command`` to the end of the line.
_WHOLE_LINE = frozenset({"!", "copy", "h", "help", "sf", "sv", "ef", "ev"})
_FILE_OR_PIPE = frozenset({"g", "gx", "o", "out", "w", "write"})


def _commands(command: str, text: str) -> list[tuple[str, str]]:
    """The meta-commands psql runs from ``\\command`` and the rest of its line: as psql reads
    arguments, an unquoted backslash ends them and starts the next command, so
    ``\\if :done \\q \\endif`` runs ``\\q`` and ``\\echo x \\c other`` connects."""
    found = []
    while True:
        end = _arguments_end(command, text)
        found.append((command, text[:end]))
        match = _META.match(text, end)
        if match is None:
            return found
        command, text = match.group(1) or "", text[match.end() :]


def _arguments_end(command: str, text: str) -> int:
    """Where the arguments of ``command`` end in ``text``: at its first backslash outside
    '...' (where backslash escapes), "..." and `...`; never, for a whole-line argument."""
    if command in _WHOLE_LINE or (command in _FILE_OR_PIPE and text.lstrip().startswith("|")):
        return len(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            return i
        if c in "'\"`":
            i += 1
            while i < n and text[i] != c:
                i += 2 if c == "'" and text[i] == "\\" else 1
        i += 1
    return n


def _copy_from_stdin(words: list[str]) -> bool:
    return bool(words) and words[0] == "COPY" and "FROM" in words and "STDIN" in words


def outside_transaction(words: tuple[str, ...]) -> bool:
    """Statements PostgreSQL refuses inside a transaction block."""
    head = words[:4]
    if head[:1] == ("VACUUM",) or head[:2] == ("ALTER", "SYSTEM"):
        return True
    if head[:2] in (("CREATE", "DATABASE"), ("DROP", "DATABASE"), ("CREATE", "TABLESPACE"), ("DROP", "TABLESPACE")):
        return True
    return head[:1] in (("CREATE",), ("DROP",), ("REINDEX",)) and "CONCURRENTLY" in words[:5]


DIALECT = Dialect(
    lint_rules="postgres",
    client="psql",
    scanner=_Scanner,
    includes={"i": False, "include": False, "ir": True, "include_relative": True},
    switches=frozenset({"c", "connect"}),
    switch_phrase="connects to another database or as another user",
    leaves={"q": "ends the file early", "quit": "ends the file early", "!": "runs a shell command outside the session"},
    transactional=True,
    outside_transaction=outside_transaction,
    substitutes_variables=True,
    builtin_variables=BUILTIN_VARIABLES,
    variable_syntax=":name, or :'name' in a string",
)
