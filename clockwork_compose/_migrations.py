"""What a migrator runs, decided at build time: the migration plan.

The in-container driver (the engine's ``Migrator.template``) is a small POSIX sh program
on the image's own client that executes a plan it is given; everything that needs
judgement lives here, in Python, testable without Docker: which convention a migrations
folder follows, the version order, which files (or which section of a file) run, in which
transaction mode, and what is refused before anything runs. Files are read with the
engine's lexer (``Migrator.dialect()``: how its client splits statements, which of its
commands include, connect elsewhere or leave, whether DDL is transactional).

The plan reaches the driver as the migrator's arguments, one argument per line of the
plan, in order (``command:`` in the compose file; ``"$@"`` in the driver). Fields are
separated by one space; the last field is the rest of the argument, so it may hold spaces.
No argument may hold a newline or another control character (the driver refuses the plan).
The migrator's ``entrypoint:`` is ``_migrator.migrator_entrypoint()``, i.e. ``["/bin/sh",
"-c", <script>, "clockwork-migrate"]``: the last word is the script's ``$0``, so
``command:`` is exactly ``Plan.arguments()``. The driver takes no other input but libpq's
``PG*`` variables (and ``CLOCKWORK_ROOT``, for running it on a host in tests; default
/clockwork); an empty plan is "nothing to apply". clockwork_migrations gains a nullable
``note`` column (where an adopted step's history came from).

    set cwd <dir>
        psql runs from /clockwork/<dir> (sqitch: the plan's folder), so that backticks and
        ``\\i`` with relative paths resolve there. Default: the migrations folder.
    set adopt <convention>
        The convention whose own history table, when the database has one, counts as
        applied (golang-migrate, flyway, dbmate, goose, sqitch).
    var <name> <value>
        A variable declared on the DatabaseConnection (psql: ``-v name=value``; the mysql
        client: the user variable ``@name``).
    varenv <name> <ENVVAR>
        A variable whose value is a secret: the migrator's environment variable ENVVAR
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
                  and whitespace collapsed (so a comment edit changes nothing), as the
                  engine's lexer reads it; then, comma-separated, the checksums an earlier
                  clockwork recorded for the same text, which count as the same file
                  (MariaDB's files were read by psql's lexer before it had its own)
        lines     "-" for the whole file, else "FIRST-LAST" (1-based, inclusive): the
                  up section of a dbmate or goose file
        path      relative to /clockwork (``schema/schema.sql``, ``migrations/001_a.sql``)

Versioned steps come in the convention's version order, the schema step first, repeatables
last. The driver refuses, before running anything: a file changed since build; an applied
versioned step (or the schema) whose checksum differs; a recorded version that is not in the
plan (an applied file that was deleted); a pending versioned step that comes before an
applied one (out of order).

Entry point: :func:`plan_for` (a migrations folder, a schema file, the convention if set,
the variables, the engine) returns the :class:`Plan` or raises :class:`MigrationError` naming the
file and line; ``_lower`` calls it for each migrator, tests call it on tests/data/migrations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from . import _sql

if TYPE_CHECKING:
    from ._engines import Engine

#: Where the migrator's files are mounted in its container.
ROOT = "/clockwork"
#: The folder (under ROOT) the migrations folder is mounted on, and the schema file's.
MIGRATIONS = "migrations"
SCHEMA = "schema"
#: A line equal to this (trailing blanks allowed) makes a file run outside a transaction.
NO_TRANSACTION_MARKER = "-- clockwork:no-transaction"

CONVENTIONS = ("plain", "golang-migrate", "flyway", "dbmate", "goose", "timestamp", "sqitch")
#: The conventions whose own history table the migrator can adopt.
_ADOPTS = frozenset({"golang-migrate", "flyway", "dbmate", "goose", "sqitch"})
#: How each convention names a migration, for messages.
PATTERNS = {
    "plain": "any name ending in .sql",
    "golang-migrate": "<version>_<name>.up.sql and <version>_<name>.down.sql",
    "flyway": "V<version>__<description>.sql, R__<description>.sql, U<version>__<description>.sql",
    "dbmate": "<version>_<name>.sql with -- migrate:up and -- migrate:down",
    "goose": "<version>_<name>.sql with -- +goose Up and -- +goose Down",
    "timestamp": "<timestamp>_<name>.sql (or .up.sql/.down.sql)",
    "sqitch": "deploy/<change>.sql for each change in sqitch.plan",
}


class MigrationError(Exception):
    """A migrations folder that cannot run as written: ``where`` is ``file`` or ``file:line``."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        self.where, self.problem, self.fix = where, problem, fix
        #: The convention the folder was read as, once known.
        self.convention: str | None = None
        super().__init__(f"{where}: {problem}; {fix}")


@dataclass(frozen=True)
class Step:
    """One file (or section of one) the migrator applies, with the checksum it records."""

    kind: str  # schema | versioned | repeatable
    tx: str  # tx | own | none
    version: str
    adopt_key: str | None
    sha256: str
    checksum: str
    lines: tuple[int, int] | None
    path: str  # relative to ROOT
    #: Checksums an earlier clockwork recorded for this text, also accepted as applied.
    legacy: tuple[str, ...] = ()

    def argument(self) -> str:
        lines = "-" if self.lines is None else f"{self.lines[0]}-{self.lines[1]}"
        checksums = ",".join((self.checksum, *self.legacy))
        fields = (self.kind, self.tx, self.version, self.adopt_key or "-", self.sha256, checksums, lines, self.path)
        return "step " + " ".join(fields)


@dataclass(frozen=True)
class Skipped:
    """A file in the migrations folder that does not run, and why (shown by `clockwork plan`)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """What the migrator applies, in order, under one convention, and what it skips."""

    convention: str
    steps: tuple[Step, ...]
    skipped: tuple[Skipped, ...] = ()
    cwd: str | None = None
    adopt: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    #: Secret variables: (name, environment variable of the migrator that holds it).
    env_variables: tuple[tuple[str, str], ...] = field(default=())

    def arguments(self) -> list[str]:
        out = []
        if self.cwd is not None:
            out.append(f"set cwd {self.cwd}")
        if self.adopt is not None:
            out.append(f"set adopt {self.adopt}")
        out += [f"var {name} {value}" for name, value in self.variables]
        out += [f"varenv {name} {variable}" for name, variable in self.env_variables]
        out += [step.argument() for step in self.steps]
        return out

    @property
    def versions(self) -> tuple[str, ...]:
        """The record names the migrator writes, in plan order."""
        return tuple(step.version for step in self.steps)

    def digest(self) -> str:
        """One hash of the record names and file contents (the migrator's label)."""
        digest = hashlib.sha256()
        for step in self.steps:
            digest.update(f"{step.version}\0{step.sha256}\n".encode())
        return f"sha256:{digest.hexdigest()}"


# -- the entry point ------------------------------------------------------------------------


def plan_for(
    migrations_dir: Path | None,
    schema_file: Path | None = None,
    *,
    convention: str | None = None,
    variables: Mapping[str, str] | None = None,
    env_variables: Mapping[str, str] | None = None,
    engine: Engine | str | None = None,
) -> Plan:
    """The plan for a schema file and a migrations folder (either may be None).

    ``convention`` overrides detection (one of :data:`CONVENTIONS`); ``variables`` are the
    declared variables with their values, ``env_variables`` the secret ones (name -> the
    migrator's environment variable); ``engine`` (an engine or its name; default
    ``_engines.DEFAULT_MIGRATIONS``)
    brings the lexer that reads the files. Raises :class:`MigrationError` naming the file
    (and line) of the first thing that would not run as its tool runs it.

    The in-container driver gets ``plan.arguments()``; an end-to-end test can call this on
    a corpus folder directly: ``plan_for(Path("tests/data/migrations/goose-goose"))``."""
    variables = dict(variables or {})
    env_variables = dict(env_variables or {})
    declared = frozenset(variables) | frozenset(env_variables)
    dialect = _dialect(engine)
    steps: list[Step] = []
    if schema_file is not None:
        steps.append(_schema_step(schema_file, declared, dialect))
    if migrations_dir is None:
        return Plan(
            "plain",
            tuple(steps),
            (),
            None,
            None,
            tuple(sorted(variables.items())),
            tuple(sorted(env_variables.items())),
        )
    folder = Path(migrations_dir)
    if convention is not None and convention not in CONVENTIONS:
        raise MigrationError(
            str(folder), f"unknown migrations convention {convention!r}", "use one of " + ", ".join(CONVENTIONS)
        )
    listing = _list(folder)
    chosen = convention or _detect(folder, listing)
    try:
        found = _CONVENTIONS[chosen](folder, listing)
        for migration in found.migrations:
            steps.append(_step(migration, folder, found.cwd, declared, chosen, dialect))
    except MigrationError as exc:
        exc.convention = chosen
        raise
    seen: dict[str, str] = {}
    for step in steps:
        if step.version in seen:
            raise MigrationError(
                step.path,
                f"records the same name {step.version!r} as {seen[step.version]}",
                "rename one of the two files",
            )
        seen[step.version] = step.path
    return Plan(
        chosen,
        tuple(steps),
        tuple(sorted(found.skipped, key=lambda s: s.path)),
        found.cwd,
        chosen if chosen in _ADOPTS else None,
        tuple(sorted(variables.items())),
        tuple(sorted(env_variables.items())),
    )


def _dialect(engine: Engine | str | None) -> _sql.Dialect:
    from ._engines import migrating_engine

    migrator = migrating_engine(engine).migrator
    assert migrator is not None
    return migrator.dialect()


# -- the folder -----------------------------------------------------------------------------


@dataclass
class _Listing:
    """A migrations folder's top level, read once."""

    files: dict[str, Path]  # top-level regular *.sql files, by name
    skipped: list[Skipped]
    subfolders: list[str]
    texts: dict[str, str] = field(default_factory=dict)

    def text(self, folder: Path, rel: str) -> str:
        if rel not in self.texts:
            self.texts[rel] = (folder / rel).read_bytes().decode("utf-8", "surrogateescape")
        return self.texts[rel]


def _list(folder: Path) -> _Listing:
    """The folder's top level: what may run, what is skipped, what is refused."""
    files: dict[str, Path] = {}
    skipped: list[Skipped] = []
    subfolders: list[str] = []
    root = folder.resolve()
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        name = entry.name
        _refuse_outside(entry, name, root)
        _refuse_odd_name(name)
        looks_sql = name.lower().endswith(".sql")
        if entry.is_dir():
            if looks_sql:
                raise MigrationError(name, "is a folder named like a migration", "rename it, or move its files up")
            subfolders.append(name)
        elif looks_sql and not name.endswith(".sql"):
            raise MigrationError(
                name, "ends in an upper-case .SQL and would never run", f"rename it to {name[:-4]}.sql"
            )
        elif looks_sql and entry.is_file():
            files[name] = entry
        elif looks_sql:
            raise MigrationError(name, "is not a regular file", "replace it with the file itself")
        else:
            skipped.append(Skipped(name, "not a .sql file"))
    return _Listing(files, skipped, subfolders)


_ODD_NAME = re.compile(r"[\s\x00-\x1f\x7f]")


def _refuse_odd_name(rel: str) -> None:
    """A blank or control character cannot be part of a plan line's path or record name."""
    if rel.lower().endswith(".sql") and _ODD_NAME.search(rel):
        raise MigrationError(
            repr(rel), "holds a blank or a control character, which a record name cannot", "rename the file"
        )


def _refuse_outside(entry: Path, rel: str, root: Path) -> None:
    if not entry.is_symlink():
        return
    target = entry.resolve()
    if not target.exists():
        raise MigrationError(rel, "is a symlink to nothing", "remove it, or point it at a file in the folder")
    if not target.is_relative_to(root):
        raise MigrationError(
            rel,
            f"is a symlink out of the migrations folder ({target}), which the migrator cannot see",
            "copy the file into the folder",
        )


_FLYWAY = re.compile(r"(?P<kind>[VUR])(?P<version>[0-9]+(?:[._][0-9]+)*)?__(?P<desc>.+)\.sql")
_UPDOWN = re.compile(r"(?P<version>[0-9]+)_(?P<name>.+)\.(?P<way>up|down)\.sql")
_NUMBERED = re.compile(r"(?P<version>[0-9]+)_(?P<name>.+)\.sql")
_DBMATE_UP = re.compile(r"^--[ \t]*migrate:up\b(?P<options>[^\n]*)$", re.M)
_DBMATE_DOWN = re.compile(r"^--[ \t]*migrate:down\b", re.M)
_GOOSE = re.compile(r"^--[ \t]*\+goose[ \t]+(?P<what>[A-Za-z ]+?)[ \t\r]*$", re.M | re.I)
_MARKER = re.compile(r"^" + re.escape(NO_TRANSACTION_MARKER) + r"[ \t\r]*$", re.M)


def _detect(folder: Path, listing: _Listing) -> str:
    """The convention the folder's files follow; two files that disagree are an error."""
    if (folder / "sqitch.plan").is_file():
        return "sqitch"
    if folder.name == "deploy" and (folder.parent / "sqitch.plan").is_file():
        raise MigrationError(
            str(folder), "is the deploy folder of a sqitch project", "set migrations_dir to the folder of sqitch.plan"
        )
    evidence: dict[str, str] = {}
    for name in listing.files:
        text = listing.text(folder, name)
        if "+goose" in text and _GOOSE.search(text):
            evidence.setdefault("goose", name)
        elif "migrate:up" in text and _DBMATE_UP.search(text):
            evidence.setdefault("dbmate", name)
        elif _FLYWAY.fullmatch(name):
            evidence.setdefault("flyway", name)
        elif _UPDOWN.fullmatch(name):
            evidence.setdefault("golang-migrate", name)
    if len(evidence) > 1:
        (a, fa), (b, fb) = sorted(evidence.items(), key=lambda item: item[1])[:2]
        raise MigrationError(
            str(folder),
            f"mixes conventions: {fa} is {a}, {fb} is {b}",
            "keep one convention per folder, or set migrations_convention on the DatabaseConnection",
        )
    if evidence:
        return next(iter(evidence))
    numbered = [_NUMBERED.fullmatch(name) for name in listing.files]
    if numbered and all(m is not None and len(m["version"]) >= 14 for m in numbered):
        return "timestamp"
    return "plain"


# -- conventions: each lists what runs, in order, and what is skipped -----------------------


@dataclass(frozen=True)
class _Migration:
    """A migration file as its convention names it: its version, and how it runs."""

    rel: str  # relative to the migrations folder
    kind: str
    version: str
    adopt_key: str | None
    no_transaction: bool = False  # the convention's own marker
    section: tuple[int, int] | None = None


@dataclass
class _Found:
    """A convention's reading of a folder: the migrations it runs and the files it skips."""

    migrations: list[_Migration]
    skipped: list[Skipped]
    cwd: str | None = None


def _no_pattern(name: str, convention: str) -> MigrationError:
    return MigrationError(
        name,
        f"matches no {convention} pattern ({PATTERNS[convention]}), so it would never run",
        "rename it to the pattern, or move it out of the migrations folder",
    )


def _subfolders(listing: _Listing, convention: str) -> list[Skipped]:
    return [Skipped(f"{name}/", f"subfolder: {convention} reads only the top folder") for name in listing.subfolders]


def _natural(name: str) -> tuple[object, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"([0-9]+)", name))


def _plain(folder: Path, listing: _Listing) -> _Found:
    names = sorted(listing.files, key=lambda n: (_natural(n), n))
    migrations = [_Migration(n, "versioned", n, None) for n in names]
    return _Found(migrations, listing.skipped + _subfolders(listing, "plain"))


def _numbered(
    listing: _Listing, convention: str, *, updown: bool
) -> tuple[list[tuple[int, str, re.Match[str]]], list[Skipped]]:
    """Files named <version>_<name>.sql (and .up.sql/.down.sql when ``updown``), by version."""
    found: list[tuple[int, str, re.Match[str]]] = []
    skipped: list[Skipped] = []
    by_version: dict[int, str] = {}
    for name in listing.files:
        match = _UPDOWN.fullmatch(name) if updown else None
        if match is not None and match["way"] == "down":
            skipped.append(Skipped(name, "down migration: never runs"))
            continue
        match = match or (None if convention == "golang-migrate" else _NUMBERED.fullmatch(name))
        if match is None:
            raise _no_pattern(name, convention)
        version = int(match["version"])
        if version in by_version:
            raise MigrationError(
                name, f"has version {version}, like {by_version[version]}", "give each migration its own version"
            )
        by_version[version] = name
        found.append((version, name, match))
    found.sort()
    return found, skipped


def _golang_migrate(folder: Path, listing: _Listing) -> _Found:
    found, skipped = _numbered(listing, "golang-migrate", updown=True)
    migrations = [_Migration(name, "versioned", name, str(version)) for version, name, _ in found]
    return _Found(migrations, listing.skipped + skipped + _subfolders(listing, "golang-migrate"))


def _timestamp(folder: Path, listing: _Listing) -> _Found:
    found, skipped = _numbered(listing, "timestamp", updown=True)
    migrations = [_Migration(name, "versioned", name, None) for _, name, _ in found]
    return _Found(migrations, listing.skipped + skipped + _subfolders(listing, "timestamp"))


def _dbmate(folder: Path, listing: _Listing) -> _Found:
    found, skipped = _numbered(listing, "dbmate", updown=False)
    migrations = []
    for _, name, match in found:
        text = listing.text(folder, name)
        up = _DBMATE_UP.search(text)
        if up is None:
            raise MigrationError(name, "has no -- migrate:up line, so dbmate would refuse it", "add one above its SQL")
        first = text.count("\n", 0, up.start()) + 1
        down = _DBMATE_DOWN.search(text, up.end())
        last = text.count("\n", 0, down.start()) if down else _line_count(text)
        options = up["options"].split()
        no_tx = "transaction:false" in options
        migrations.append(_Migration(name, "versioned", name, match["version"], no_tx, (first, last)))
    return _Found(migrations, listing.skipped + skipped + _subfolders(listing, "dbmate"))


def _goose(folder: Path, listing: _Listing) -> _Found:
    for skip in listing.skipped:
        if re.fullmatch(r"[0-9]+_.+\.go", skip.path):
            raise MigrationError(
                skip.path, "is a goose Go migration, which clockwork cannot run", "write it as a .sql migration"
            )
    found, skipped = _numbered(listing, "goose", updown=False)
    migrations = []
    for version, name, _ in found:
        text = listing.text(folder, name)
        marks = [(m["what"].lower().split(), text.count("\n", 0, m.start()) + 1) for m in _GOOSE.finditer(text)]
        up = next((line for what, line in marks if what == ["up"]), None)
        if up is None:
            raise MigrationError(name, "has no -- +goose Up line, so goose would refuse it", "add one above its SQL")
        down = next((line for what, line in marks if what == ["down"] and line > up), None)
        last = down - 1 if down else _line_count(text)
        no_tx = any(what == ["no", "transaction"] for what, _ in marks)
        for what, line in marks:
            if what[:2] == ["envsub", "on"]:
                raise MigrationError(
                    f"{name}:{line}",
                    "uses goose ENVSUB, which clockwork does not substitute",
                    "write variables the client substitutes and declare them in the connection's variables",
                )
        migrations.append(_Migration(name, "versioned", name, str(version), no_tx, (up, last)))
    return _Found(migrations, listing.skipped + skipped + _subfolders(listing, "goose"))


def _line_count(text: str) -> int:
    return max(1, text.count("\n") + (0 if text.endswith("\n") else 1))


def _flyway(folder: Path, listing: _Listing) -> _Found:
    """Flyway reads subfolders too; versions are global, repeatables run last by description."""
    versioned: list[tuple[tuple[int, ...], str, str]] = []
    repeatable: list[tuple[str, str]] = []
    skipped = list(listing.skipped)
    by_version: dict[tuple[int, ...], str] = {}
    names: dict[str, str] = {}
    root = folder.resolve()
    for rel in _flyway_files(folder, listing, skipped, root):
        base = PurePosixPath(rel).name
        match = _FLYWAY.fullmatch(base)
        if match is None:
            raise _no_pattern(rel, "flyway")
        if base in names:
            raise MigrationError(rel, f"has the same name as {names[base]}", "rename one of the two files")
        names[base] = rel
        if match["kind"] == "U":
            skipped.append(Skipped(rel, "undo migration: never runs"))
        elif match["kind"] == "R":
            if match["version"]:
                raise _no_pattern(rel, "flyway")
            repeatable.append((match["desc"], rel))
        else:
            if not match["version"]:
                raise _no_pattern(rel, "flyway")
            key = tuple(int(p) for p in re.split(r"[._]", match["version"]))
            while len(key) > 1 and key[-1] == 0:
                key = key[:-1]
            if key in by_version:
                raise MigrationError(
                    rel, f"has the version of {by_version[key]}", "give each migration its own version"
                )
            by_version[key] = rel
            versioned.append((key, rel, match["version"].replace("_", ".")))
    migrations = [_Migration(rel, "versioned", PurePosixPath(rel).name, v) for _, rel, v in sorted(versioned)]
    migrations += [_Migration(rel, "repeatable", PurePosixPath(rel).name, None) for _, rel in sorted(repeatable)]
    return _Found(migrations, skipped)


def _flyway_files(folder: Path, listing: _Listing, skipped: list[Skipped], root: Path) -> list[str]:
    out = list(listing.files)
    for sub in listing.subfolders:
        for path in sorted((folder / sub).rglob("*")):
            rel = path.relative_to(folder).as_posix()
            _refuse_outside(path, rel, root)
            _refuse_odd_name(rel)
            lower = path.name.lower()
            if path.is_dir():
                if lower.endswith(".sql"):
                    raise MigrationError(rel, "is a folder named like a migration", "rename it")
            elif lower.endswith(".sql") and not path.name.endswith(".sql"):
                raise MigrationError(rel, "ends in an upper-case .SQL and would never run", "rename it to .sql")
            elif lower.endswith(".sql"):
                out.append(rel)
            else:
                skipped.append(Skipped(rel, "not a .sql file"))
    return out


_PLAN_CHANGE = re.compile(r"(?P<name>[^\s\[@#:%][^\s\[@#:]*)")


def _sqitch(folder: Path, listing: _Listing) -> _Found:
    """Changes in sqitch.plan order; a reworked change's earlier copies are ``name@tag.sql``."""
    _default_sqitch_layout(folder)
    entries: list[tuple[str, str, int]] = []  # ("change" | "tag", name, line)
    plan = (folder / "sqitch.plan").read_text(encoding="utf-8", errors="surrogateescape")
    for number, raw in enumerate(plan.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):
            continue
        if line.startswith("@"):
            entries.append(("tag", line[1:].split()[0], number))
            continue
        if line.startswith("-"):
            raise MigrationError(
                f"sqitch.plan:{number}", "plans a revert (-change), which clockwork does not run", "remove the line"
            )
        match = _PLAN_CHANGE.match(line.lstrip("+"))
        if match is None:
            raise MigrationError(f"sqitch.plan:{number}", "is not a change or tag line", "fix the line")
        entries.append(("change", match["name"], number))
    migrations: list[_Migration] = []
    used: set[str] = set()
    occurrences: dict[str, int] = {}
    for index, (what, name, number) in enumerate(entries):
        if what != "change":
            continue
        occurrences[name] = occurrences.get(name, 0) + 1
        rel = _sqitch_script(folder, entries, index, name, number)
        used.add(rel)
        count = occurrences[name]
        version = name if count == 1 else f"{name}~{count}"
        migrations.append(_Migration(rel, "versioned", version, name))
    skipped = list(listing.skipped)
    skipped += [Skipped(name, "not a deploy script: sqitch runs deploy/ only") for name in listing.files]
    for sub in listing.subfolders:
        reason = {
            "revert": "sqitch revert script: never runs",
            "verify": "sqitch verify script: never runs",
        }.get(sub)
        for path in sorted((folder / sub).rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_dir() or rel in used:
                continue
            if reason is not None:
                skipped.append(Skipped(rel, reason))
            elif sub == "deploy":
                skipped.append(Skipped(rel, "not a change in sqitch.plan"))
            else:
                skipped.append(Skipped(rel, "not a deploy script: sqitch runs deploy/ only"))
    return _Found(migrations, skipped, cwd=MIGRATIONS)


_SQITCH_LAYOUT = re.compile(r"^\s*(top_dir|plan_file|deploy_dir|extension)\s*=", re.M)


def _default_sqitch_layout(folder: Path) -> None:
    """clockwork reads sqitch's default layout only: sqitch.plan and deploy/*.sql beside it."""
    conf = folder / "sqitch.conf"
    text = conf.read_text(encoding="utf-8", errors="surrogateescape") if conf.is_file() else ""
    match = _SQITCH_LAYOUT.search(text)
    if match is not None:
        raise MigrationError(
            f"sqitch.conf:{text.count(chr(10), 0, match.start()) + 1}",
            f"sets {match.group(1)}, and clockwork reads only sqitch's default layout",
            "remove the setting (sqitch.plan and deploy/<change>.sql beside it)",
        )


def _sqitch_script(folder: Path, entries: list[tuple[str, str, int]], index: int, name: str, number: int) -> str:
    later = [e for e in entries[index + 1 :] if e[0] == "change" and e[1] == name]
    if later:  # reworked: this copy is kept as name@<tag>, a tag between here and the rework
        until = entries.index(later[0])
        for what, tag, _ in entries[index + 1 : until]:
            if what == "tag" and (folder / "deploy" / f"{name}@{tag}.sql").is_file():
                return f"deploy/{name}@{tag}.sql"
        raise MigrationError(
            f"sqitch.plan:{number}",
            f"change {name} is reworked later but no deploy/{name}@<tag>.sql holds this copy",
            "run sqitch rework as sqitch does, or restore the file",
        )
    rel = f"deploy/{name}.sql"
    if not (folder / rel).is_file():
        raise MigrationError(f"sqitch.plan:{number}", f"change {name} has no {rel}", "add the deploy script")
    _refuse_outside(folder / rel, rel, folder.resolve())
    return rel


_CONVENTIONS = {
    "plain": _plain,
    "golang-migrate": _golang_migrate,
    "flyway": _flyway,
    "dbmate": _dbmate,
    "goose": _goose,
    "timestamp": _timestamp,
    "sqitch": _sqitch,
}


# -- one file: its transaction mode, and what is refused in it ------------------------------

#: First words of statements that end a transaction, and of those that control one.
_TX_CLOSE = {("COMMIT",), ("END",)}
_TX_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT"}


_FLYWAY_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")


def _refuse_placeholders(text: str, rel: str, offset: int, dialect: _sql.Dialect) -> None:
    """Flyway replaces ${name} everywhere in a file (literals too); the client sends it as is."""
    match = _FLYWAY_PLACEHOLDER.search(text)
    if match is not None:
        name = match.group(1).rsplit(":", 1)[-1]
        raise MigrationError(
            f"{rel}:{text.count(chr(10), 0, match.start()) + 1 + offset}",
            f"Flyway placeholder {match.group()} would reach the server as it is",
            f"write a variable instead ({dialect.variable_syntax.replace('name', name)}) and declare it in variables",
        )


def _step(
    migration: _Migration,
    folder: Path,
    cwd: str | None,
    declared: frozenset[str],
    convention: str,
    dialect: _sql.Dialect,
) -> Step:
    path = folder / migration.rel
    data = path.read_bytes()
    text = data.decode("utf-8", "surrogateescape")
    offset = 0
    part = text
    if migration.section is not None:
        first, last = migration.section
        lines = text.splitlines(keepends=True)
        part = "".join(lines[first - 1 : last])
        offset = first - 1
    marked = migration.no_transaction or bool(_MARKER.search(part))
    if convention == "flyway":
        _refuse_placeholders(part, migration.rel, offset, dialect)
    script = dialect.scan(part)
    tx = _transaction(script, migration.rel, offset, marked, dialect)
    _check_script(script, migration.rel, offset, declared, folder, cwd, dialect)
    _check_included(script, migration.rel, folder, tx, dialect)
    return Step(
        migration.kind,
        tx,
        migration.version,
        migration.adopt_key,
        hashlib.sha256(data).hexdigest(),
        script.checksum,
        migration.section,
        f"{MIGRATIONS}/{migration.rel}",
        dialect.legacy_checksums(part),
    )


def _schema_step(schema_file: Path, declared: frozenset[str], dialect: _sql.Dialect) -> Step:
    if _ODD_NAME.search(schema_file.name):
        raise MigrationError(
            repr(schema_file.name), "holds a blank or a control character, which a record name cannot", "rename it"
        )
    data = schema_file.read_bytes()
    text = data.decode("utf-8", "surrogateescape")
    script = dialect.scan(text)
    name = schema_file.name
    tx = _transaction(script, name, 0, bool(_MARKER.search(text)), dialect)
    _check_script(script, name, 0, declared, None, None, dialect)
    return Step(
        "schema",
        tx,
        f"schema:{name}",
        None,
        hashlib.sha256(data).hexdigest(),
        script.checksum,
        None,
        f"{SCHEMA}/{name}",
        dialect.legacy_checksums(text),
    )


def _transaction(script: _sql.Script, rel: str, offset: int, marked: bool, dialect: _sql.Dialect) -> str:
    """tx, own or none: how the file runs so that it is applied whole or not at all (none
    where the engine commits DDL as it goes: the driver records such a file as it runs)."""
    if script.unterminated is not None:
        line, what = script.unterminated
        raise MigrationError(f"{rel}:{line + offset}", f"unterminated {what}", "close it")
    for meta in script.metas:
        _refuse_meta(meta, f"{rel}:{meta.line + offset}", dialect, strict=not marked or not dialect.transactional)
    if marked or not dialect.transactional:
        return "none"
    statements = script.statements
    control = [s for s in statements if s.words[:1] and s.words[0] in _TX_CONTROL and not _savepoint(s.words)]
    if (
        len(control) == 2
        and control[0] is statements[0]
        and control[1] is statements[-1]
        and _opens(statements[0].words)
        and statements[-1].words[:1] in _TX_CLOSE
    ):
        inside = next((st for st in statements if dialect.outside_transaction(st.words)), None)
        if inside is not None:
            raise MigrationError(
                f"{rel}:{inside.line + offset}",
                f"{' '.join(inside.words[:3])} cannot run inside the file's BEGIN ... COMMIT",
                "move it to a file of its own without BEGIN/COMMIT",
            )
        return "own"
    if control:
        bad = control[0] if not _opens(control[0].words) or control[0] is not statements[0] else control[-1]
        if len(control) >= 2 and bad is control[-1] and control[-1] is statements[-1]:
            bad = control[1]
        raise MigrationError(
            f"{rel}:{bad.line + offset}",
            f"{' '.join(bad.words[:2])} where only one BEGIN first and one COMMIT last can keep the file "
            "all or nothing",
            f"wrap the whole file in one BEGIN ... COMMIT, or mark it with a line {NO_TRANSACTION_MARKER} "
            "(it is then re-run whole if it fails)",
        )
    if any(dialect.outside_transaction(s.words) for s in statements):
        return "none"
    return "tx"


def _refuse_meta(meta: _sql.Meta, where: str, dialect: _sql.Dialect, *, strict: bool) -> None:
    """MigrationError for a client command the migrator cannot keep all or nothing: one
    that connects elsewhere; when ``strict``, one that leaves the file or its session."""
    if meta.command in dialect.switches:
        raise MigrationError(
            where,
            f"{dialect.show(meta.command)} {dialect.switch_phrase}, while the migrator records "
            "the file in the database of its DatabaseConnection (the next apply would run it again, or fail)",
            "remove it: a migration runs in its DatabaseConnection's database; to migrate another database, "
            "give that database its own DatabaseConnection with its own migrations_dir",
        )
    if strict and meta.command in dialect.leaves:
        fix = (
            f"remove it, or mark the file with a line {NO_TRANSACTION_MARKER} (it is then re-run whole if it fails)"
            if dialect.transactional
            else "remove it"
        )
        raise MigrationError(
            where,
            f"{dialect.show(meta.command)} {dialect.leaves[meta.command]}, so the file could be recorded half-applied",
            fix,
        )


def _opens(words: tuple[str, ...]) -> bool:
    return words[:1] == ("BEGIN",) or words[:2] == ("START", "TRANSACTION")


def _savepoint(words: tuple[str, ...]) -> bool:
    """ROLLBACK TO [SAVEPOINT] stays inside the transaction."""
    return (
        words[:2] == ("ROLLBACK", "TO")
        or words[:3] == ("ROLLBACK", "TRANSACTION", "TO")
        or words[:3]
        == (
            "ROLLBACK",
            "WORK",
            "TO",
        )
    )


def _check_script(
    script: _sql.Script,
    rel: str,
    offset: int,
    declared: frozenset[str],
    folder: Path | None,
    cwd: str | None,
    dialect: _sql.Dialect,
) -> None:
    defined = {m.argument.split()[0] for m in script.metas if m.command == "set" and m.argument.split()}
    for meta in script.metas:
        _refuse_error_settings(meta, f"{rel}:{meta.line + offset}")
    # \gset names variables after the query's columns, which a scanner cannot know.
    unknowable = any(m.command == "gset" for m in script.metas)
    for variable in () if unknowable or not dialect.substitutes_variables else script.variables:
        name = variable.name
        if name in declared or name in defined or name in dialect.builtin_variables:
            continue
        raise MigrationError(
            f"{rel}:{variable.line + offset}",
            f"{dialect.client} variable :{name} is not declared",
            f"declare it: DatabaseConnection(..., variables={{{name!r}: ...}})",
        )
    # psql runs from the migrations folder (cwd is None) or, for sqitch, the plan's folder,
    # which is the migrations folder too: \i and backticks resolve there, \ir beside the file.
    assert cwd in (None, MIGRATIONS)
    for meta in script.metas:
        if meta.command in dialect.includes:
            base = PurePosixPath(rel).parent if dialect.includes[meta.command] else PurePosixPath(".")
            where = f"{rel}:{meta.line + offset}"
            _inside(meta.argument.strip("'\""), base, folder, where, dialect.show(meta.command))
    for line, command in script.backticks:
        for word in command.split():
            word = word.rsplit("=", 1)[-1].strip("'\"")  # --file=data/x.json
            if "/" in word or re.search(r"[A-Za-z_-]\.[A-Za-z][A-Za-z0-9]*$", word):
                _inside(word, PurePosixPath("."), folder, f"{rel}:{line + offset}", "backtick command")


_TRUE = {"on", "true", "1", "yes", "t", "y"}


def _refuse_error_settings(meta: _sql.Meta, where: str) -> None:
    """A file must stop at its first error, or a failed statement is recorded as applied."""
    words = meta.argument.split()
    name = words[0] if words else ""
    value = words[1].strip("'\"").lower() if len(words) > 1 else ""
    stops = name != "ON_ERROR_STOP" or (meta.command == "set" and value in _TRUE)
    rolls_back = name == "ON_ERROR_ROLLBACK" and meta.command == "set" and value not in ("off", "false", "0", "no")
    if meta.command in ("set", "unset") and (not stops or rolls_back):
        raise MigrationError(
            where,
            f"\\{meta.command} {' '.join(words[:2])} lets the file go on after an error, "
            "so a failed migration would be recorded as applied",
            "remove the line: the migrator stops at the first error",
        )


def _inside(target: str, base: PurePosixPath, folder: Path | None, where: str, what: str) -> Path:
    """An included path must be a file the migrator can see: inside the migrations folder."""
    if folder is None:
        raise MigrationError(
            where,
            f"{what} {target} needs a file the migrator does not mount with the schema file",
            "move the schema's includes into a migration",
        )
    if ":" in target or "`" in target or target.startswith("/"):
        raise MigrationError(
            where,
            f"{what} {target} cannot be checked to stay in the migrations folder",
            "use a path relative to the file's folder",
        )
    root = folder.resolve()
    resolved = (folder / base / target).resolve()
    if not resolved.is_relative_to(root):
        raise MigrationError(
            where,
            f"{what} {target} leaves the migrations folder, which is all the migrator sees",
            "move the file into the migrations folder",
        )
    if not resolved.exists():
        raise MigrationError(where, f"{what} {target} does not exist", "fix the path")
    return resolved


def _check_included(
    script: _sql.Script, rel: str, folder: Path, tx: str, dialect: _sql.Dialect, seen: frozenset[str] = frozenset()
) -> None:
    """What a file includes (``\\i``, ``\\ir``, nested) runs in its session and transaction:
    the same refusals hold there (connecting elsewhere, leaving early, going on after an
    error, and, in a file run in a transaction, transaction control)."""
    for meta in script.metas:
        if meta.command not in dialect.includes:
            continue
        base = PurePosixPath(rel).parent if dialect.includes[meta.command] else PurePosixPath(".")
        path = _inside(meta.argument.strip("'\""), base, folder, f"{rel}:{meta.line}", dialect.show(meta.command))
        name = path.relative_to(folder.resolve()).as_posix()
        if name in seen or not path.is_file():
            continue
        included = dialect.scan(path.read_bytes().decode("utf-8", "surrogateescape"))
        for inner in included.metas:
            _refuse_meta(inner, f"{name}:{inner.line}", dialect, strict=tx != "none" or not dialect.transactional)
            _refuse_error_settings(inner, f"{name}:{inner.line}")
        control = next((st for st in included.statements if st.words[:1] and st.words[0] in _TX_CONTROL), None)
        if tx != "none" and control is not None and not _savepoint(control.words):
            raise MigrationError(
                f"{name}:{control.line}",
                f"{control.words[0]} in a file {rel} includes, which runs in a transaction: the file could be "
                "recorded half-applied",
                f"remove it, or mark {rel} with a line {NO_TRANSACTION_MARKER} (it is then re-run whole if it fails)",
            )
        _check_included(included, name, folder, tx, dialect, seen | {name})
