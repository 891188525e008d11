"""What a migrator runs, decided at build time: the migration plan.

The in-container driver (``templates/migrator.sh.j2``) is a small POSIX sh + psql program
that executes a plan it is given; everything that needs judgement lives here, in Python,
testable without Docker: which convention a migrations folder follows, the version order,
which files (or which section of a file) run, in which transaction mode, and what is
refused before anything runs.

The plan reaches the driver as the migrator's arguments, one argument per line of the
plan, in order (``command:`` in the compose file; ``"$@"`` in the driver). Fields are
separated by one space; the last field is the rest of the argument, so it may hold spaces.

    set cwd <dir>
        psql runs from /clockwork/<dir> (sqitch: the plan's folder), so that backticks and
        ``\\i`` with relative paths resolve there. Default: the migrations folder.
    set adopt <convention>
        The convention whose own history table, when the database has one, counts as
        applied (golang-migrate, flyway, dbmate, goose, sqitch).
    var <name> <value>
        A psql variable (``-v name=value``) declared on the DatabaseConnection.
    varenv <name> <ENVVAR>
        A psql variable whose value is a secret: the migrator's environment variable ENVVAR
        holds it (``-v "name=$ENVVAR"``), so the value never appears in the compose file.
    step <kind> <tx> <version> <adopt-key> <sha256> <checksum> <lines> <path>
        kind      schema | versioned | repeatable
        tx        tx   the driver runs the file inside BEGIN ... COMMIT, its record inside it
                  own  the file is one BEGIN ... COMMIT: the driver opens the transaction and
                       writes the record first; the file's own COMMIT commits both
                  none outside a transaction; recorded after it succeeds (re-run whole if
                       it fails)
        version   the record name in clockwork_migrations (no whitespace): the file's base
                  name for plain files, ``schema:<basename>`` for the schema file
        adopt-key the version the convention's own tool records ("-" when none):
                  golang-migrate and goose the version as an integer without padding
                  (``7``), dbmate the digits of the name as written (``20151129054053``),
                  flyway the version with ``_`` written ``.`` (``1.1``; repeatables "-"),
                  sqitch the change name (a reworked change appears more than once
                  with the same key)
        sha256    hex sha256 of the whole file as built: the driver refuses to run when the
                  mounted file differs ("changed since clockwork build")
        checksum  what is recorded: hex sha256 of the executed part with comments removed
                  and whitespace collapsed (so a comment edit changes nothing)
        lines     "-" for the whole file, else "FIRST-LAST" (1-based, inclusive): the
                  up section of a dbmate or goose file
        path      relative to /clockwork (``schema/schema.sql``, ``migrations/001_a.sql``)

Versioned steps come in the convention's version order, the schema step first, repeatables
last. The driver refuses, before running anything: a file changed since build; an applied
versioned step (or the schema) whose checksum differs; a recorded version that is not in the
plan (an applied file that was deleted); a pending versioned step that comes before an
applied one (out of order).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where the migrator's files are mounted in its container.
ROOT = "/clockwork"


@dataclass(frozen=True)
class Step:
    kind: str  # schema | versioned | repeatable
    tx: str  # tx | own | none
    version: str
    adopt_key: str | None
    sha256: str
    checksum: str
    lines: tuple[int, int] | None
    path: str  # relative to ROOT

    def argument(self) -> str:
        lines = "-" if self.lines is None else f"{self.lines[0]}-{self.lines[1]}"
        fields = (self.kind, self.tx, self.version, self.adopt_key or "-", self.sha256, self.checksum, lines, self.path)
        return "step " + " ".join(fields)


@dataclass(frozen=True)
class Skipped:
    """A file in the migrations folder that does not run, and why (shown by `clockwork plan`)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Plan:
    convention: str
    steps: tuple[Step, ...]
    skipped: tuple[Skipped, ...] = ()
    cwd: str | None = None
    adopt: str | None = None
    variables: tuple[tuple[str, str], ...] = ()

    def arguments(self) -> list[str]:
        out = []
        if self.cwd is not None:
            out.append(f"set cwd {self.cwd}")
        if self.adopt is not None:
            out.append(f"set adopt {self.adopt}")
        out += [f"var {name} {value}" for name, value in self.variables]
        out += [step.argument() for step in self.steps]
        return out
