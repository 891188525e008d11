"""A small lexer for MariaDB and MySQL scripts as their client (``mariadb``, ``mysql``) reads them.

The migrator sources each file with the image's own client, which splits it into
statements before the server sees any: this lexer follows the client (``client/mysql.cc``,
``add_line``) so that a build decides what the client will do. What it knows:

- comments: ``#`` to the end of the line; ``--`` followed by a blank or the end of the line
  (``--x`` mid-statement is two minus signs; at the start of a statement the client skips
  it as a comment, as it does for mysqldump's files); ``/* ... */``, not nested;
- executable comments ``/*! ... */``, ``/*!50003 ... */`` and MariaDB's ``/*M!100100 ... */``
  (and optimizer hints ``/*+ ... */``): their body is SQL, scanned and kept;
- ``'...'`` and ``"..."`` strings, where a backslash escapes the next character (``\\'``) and
  a doubled quote is one (``''``); ```...``` identifiers, where only a doubled backtick is one;
- the delimiter: ``;`` until a ``DELIMITER //`` line (or ``\\d //``) changes it, so that a
  procedure's or trigger's body holds semicolons; statements end at the current delimiter
  (or ``\\g``, ``\\G``);
- the client's commands: backslash ones anywhere outside literals (``\\. file``, ``\\u db``,
  ``\\q``...; ``\\N`` is NULL) and named ones that start a statement (``source file``,
  ``use db``, ``quit``, ``system ...``...), recorded as :class:`Meta` under their long name.

Character classes are negations of ASCII: a class spelling out the range up to U+10FFFF
costs milliseconds to compile.
"""

from __future__ import annotations

import re

from .._sql import Dialect, Meta, Scanner

_SPACE = re.compile(r"[ \t\r\n\f\v]+")
#: A word: a letter, ``_`` or non-ASCII first, then those, digits and ``$``.
_WORD = re.compile(r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*")
#: Anything else, up to a character that starts a token of its own.
_OTHER = re.compile(r"[\x00-\x08\x0e-\x1f!$%&+,.0-9:<=>?@\[\]^{|}~\x7f]+|.", re.S)
_EXECUTABLE = re.compile(r"/\*(?:M?!|\+)[0-9]*")
#: Characters after which a dropped blank would join two tokens.
_WORDISH = re.compile(r"[^\x00-\x21\x23\x25-\x26\x28-\x2f\x3a-\x3f\x5b-\x5e\x7b-\x7f]")
_OPERATOR = frozenset("+-*/<>=~!@#%^&|?.:")

#: Backslash commands: character -> (long name, takes the rest up to the delimiter).
_BACKSLASH = {
    "?": ("help", True),
    "h": ("help", True),
    "c": ("clear", False),
    "C": ("charset", True),
    "d": ("delimiter", True),
    "e": ("edit", False),
    "g": ("go", False),
    "G": ("ego", False),
    "n": ("nopager", False),
    "p": ("print", False),
    "P": ("pager", True),
    "q": ("quit", False),
    "r": ("connect", True),
    "R": ("prompt", True),
    "s": ("status", False),
    "t": ("notee", False),
    "T": ("tee", True),
    "u": ("use", True),
    "w": ("nowarning", False),
    "W": ("warnings", False),
    "x": ("resetconnection", False),
    ".": ("source", True),
    "#": ("rehash", False),
    "!": ("system", True),
}
#: Named commands the client runs itself when they start a statement.
_NAMED = frozenset(
    {
        "charset",
        "clear",
        "connect",
        "edit",
        "ego",
        "exit",
        "go",
        "help",
        "nopager",
        "notee",
        "nowarning",
        "pager",
        "print",
        "prompt",
        "quit",
        "rehash",
        "resetconnection",
        "source",
        "status",
        "system",
        "tee",
        "use",
        "warnings",
    }
)


class _Scanner(Scanner):
    wordish = _WORDISH
    operators = _OPERATOR

    def __init__(self, text: str, tokens: bool = False) -> None:
        super().__init__(text, tokens)
        self.delimiter = ";"
        #: The line of the open executable comment (``/*! ... */``), or 0.
        self.executable = 0

    def _end_statement(self, end: int) -> None:
        if self.start_line:
            first = self.words[0].lower() if self.words else ""
            head = self.text[self.start_pos : self.start_pos + len(first)]
            if first in _NAMED and head.lower() == first:
                argument = self.text[self.start_pos + len(first) : end].strip()
                self.metas.append(Meta(self.start_line, first, argument))
            else:
                self.statements.append(self.statement())
        self.new_statement()

    # -- the scan ------------------------------------------------------------------------

    def run(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n and self.unterminated is None:
            c = text[self.pos]
            if c == "\\":
                self._backslash()
            elif text.startswith(self.delimiter, self.pos):
                end = self.pos
                self.emit(self.advance(self.pos + len(self.delimiter)))
                self._end_statement(end)
            elif c in " \t\r\n\f\v":
                self.advance(_SPACE.match(text, self.pos).end())  # type: ignore[union-attr]
                self.space = True
            elif c == "#" or (c == "-" and self._dash_comment()):
                end = text.find("\n", self.pos)
                self.advance(n if end < 0 else end)
                self.space = True
            elif c == "/" and text.startswith("/*", self.pos):
                self._comment()
            elif c == "*" and self.executable and text.startswith("*/", self.pos):
                self.executable = 0
                self.emit(self.advance(self.pos + 2))
            elif c in "'\"`":
                self._quoted(c)
            elif c in "()":
                self.token_seen()
                self.parens = max(0, self.parens + (1 if c == "(" else -1))
                self.emit(self.advance(self.pos + 1))
            else:
                word = _WORD.match(text, self.pos)
                if word is not None:
                    self._word(word.group(), word.end())
                    continue
                self.token_seen()
                end = _OTHER.match(text, self.pos).end()  # type: ignore[union-attr]
                cut = text.find(self.delimiter[0], self.pos + 1, end)
                self.emit(self.advance(end if cut < 0 else cut))
        if self.unterminated is None and self.executable:
            self.unterminated = (self.executable, "/*! comment")
        self._end_statement(n)

    def _dash_comment(self) -> bool:
        """``--`` and a blank or a control character (or the end); or ``--`` where no
        statement started."""
        text, pos = self.text, self.pos
        if not text.startswith("--", pos):
            return False
        after = text[pos + 2 : pos + 3]
        return after == "" or after <= " " or after == "\x7f" or not self.start_line

    def _word(self, word: str, end: int) -> None:
        if not self.start_line and word.lower() == "delimiter" and self._at_line_start():
            self._delimiter_line()
            return
        if not self.start_line and word.lower() in _NAMED and self._at_line_start():
            stop = self.text.find("\n", end)
            stop = len(self.text) if stop < 0 else stop
            if self.delimiter not in self.text[end:stop]:  # the client runs the line as it is
                self.token_seen()
                self.metas.append(Meta(self.line, word.lower(), self.text[end:stop].strip()))
                self.emit(" ".join(self.advance(stop).split()))
                self.out.append("\n")
                self.space = False
                self.new_statement()
                return
        self.token_seen()
        if len(self.words) < 8 and self.parens == 0:
            self.words.append(word.upper())
        self.emit(self.advance(end))

    def _at_line_start(self) -> bool:
        start = self.text.rfind("\n", 0, self.pos) + 1
        return not self.text[start : self.pos].strip()

    def _delimiter_line(self) -> None:
        """``DELIMITER <string>``: the rest of the line names the new delimiter."""
        text, line = self.text, self.line
        stop = text.find("\n", self.pos)
        stop = len(text) if stop < 0 else stop
        words = text[self.pos : stop].split(None, 2)
        self.advance(stop)
        if len(words) > 1:
            self._set_delimiter(line, words[1])
        self.space = True

    def _set_delimiter(self, line: int, value: str) -> None:
        value = value.strip("'\"`") or value
        if "\\" in value:  # the client refuses it, and keeps the delimiter it has
            return
        self.delimiter = value
        self.metas.append(Meta(line, "delimiter", value))
        if self.out:
            self.out.append("\n")
        self.out.append(f"DELIMITER {value}\n")
        self.space = False

    def _backslash(self) -> None:
        text, pos, line = self.text, self.pos, self.line
        char = text[pos + 1 : pos + 2]
        command = _BACKSLASH.get(char)
        if command is None:  # \N (NULL), or a command the client does not know: kept as text
            self.token_seen()
            self.emit(self.advance(min(len(text), pos + 2)))
            return
        name, takes_argument = command
        self.advance(pos + 2)
        argument = ""
        if takes_argument:
            stop = text.find("\n", self.pos)
            stop = len(text) if stop < 0 else stop
            found = text.find(self.delimiter, self.pos, stop)
            stop = stop if found < 0 else found + len(self.delimiter)
            raw = self.advance(stop)
            argument = raw[: -len(self.delimiter)] if found >= 0 else raw
            argument = argument.strip()
        if name == "delimiter":
            if argument.split():
                self._set_delimiter(line, argument.split()[0])
            return
        self.metas.append(Meta(line, name, argument))
        self.emit("\\" + char + (" " + " ".join(argument.split()) if argument else ""))
        if name in ("go", "ego"):
            self._end_statement(pos)
        elif name == "clear":
            self.new_statement()

    def _comment(self) -> None:
        text, start = self.text, self.line
        executable = _EXECUTABLE.match(text, self.pos)
        if executable is not None and not self.executable:
            self.token_seen()
            self.executable = start
            self.emit(self.advance(executable.end()))
            return
        end = text.find("*/", self.pos + 2)
        if end < 0:
            self.unterminated = (start, "/* comment")
            self.advance(len(text))
            return
        self.advance(end + 2)
        self.space = True

    def _quoted(self, quote: str) -> None:
        text, start, i = self.text, self.line, self.pos + 1
        escapes = quote != "`"
        while True:
            end = text.find(quote, i)
            if escapes:
                backslash = text.find("\\", i)
                if backslash >= 0 and (end < 0 or backslash < end):
                    i = backslash + 2
                    continue
            if end < 0:
                what = "`quoted` identifier" if quote == "`" else "string"
                self.unterminated = (start, what)
                self.advance(len(text))
                return
            if text.startswith(quote * 2, end):
                i = end + 2
                continue
            self.token_seen()
            self.emit(self.advance(end + 1))
            if self.parens == 0 and len(self.words) < 8 and quote == "`":
                self.words.append("`")  # a quoted name: never a keyword
            return


def legacy_checksums(text: str) -> tuple[str, ...]:
    """The checksum clockwork recorded for this text before MariaDB had a lexer of its own
    (psql's lexer read every engine's files), when it differs from today's: a file applied
    then is not "changed after it was applied"."""
    from . import postgres_lexer

    old = postgres_lexer.DIALECT.scan(text)
    if old.unterminated is not None or old.checksum == DIALECT.checksum(text):
        return ()
    return (old.checksum,)


DIALECT = Dialect(
    lint_rules="mariadb",
    client="mysql",
    scanner=_Scanner,
    includes={"source": False},
    switches=frozenset({"use", "connect"}),
    switch_phrase="switches to another database",
    leaves={
        "quit": "ends the migrator's session",
        "exit": "ends the migrator's session",
        "system": "runs a shell command outside the session",
    },
    transactional=False,
    variable_syntax="@name",
    legacy_checksums=legacy_checksums,
    show=str.upper,
)
