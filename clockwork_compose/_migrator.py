"""Render the migrator driver: the POSIX sh script run by the one-shot migrator service.

The script (``templates/migrator.sh.j2``) takes all user input from the environment
(``PG*`` for libpq, :data:`SCHEMA_FILE_ENV`, :data:`MIGRATIONS_DIR_ENV`); the values
rendered into it here are this module's own constants, validated before use.
The compiler inlines the rendered text as ``entrypoint: ["/bin/sh", "-c", <script>]``
(escaping ``$`` as ``$$`` for Compose).
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATE_NAME = "migrator.sh.j2"

#: Environment variable naming the schema file inside the container (optional).
SCHEMA_FILE_ENV = "CLOCKWORK_SCHEMA_FILE"
#: Environment variable naming the folder of ``*.sql`` migrations (optional).
MIGRATIONS_DIR_ENV = "CLOCKWORK_MIGRATIONS_DIR"

#: Bookkeeping table: ``(version text primary key, checksum text, applied_at timestamptz)``.
MIGRATIONS_TABLE = "clockwork_migrations"
#: ``pg_advisory_lock`` key serialising concurrent migrator runs on one database
#: (the first 8 bytes of sha256("clockwork-compose:migrations"), as a signed bigint).
LOCK_KEY = 3567609838304158359
#: A line equal to this (trailing blanks allowed) makes a file run outside a transaction.
NO_TRANSACTION_MARKER = "-- clockwork:no-transaction"
#: Record name prefix of the schema file (``schema:<basename>``).
SCHEMA_VERSION_PREFIX = "schema:"
#: Prefix of every line the driver prints.
LOG_PREFIX = "clockwork-migrate"
#: pg_isready probes (1 s apart) before trying psql anyway on a server not accepting connections.
CONNECT_ATTEMPTS = 5

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_.-]+")
_BRE_SPECIAL = re.compile(r"([.\[\]*^$\\])")
_BIGINT_MIN = -(2**63)
_BIGINT_MAX = 2**63 - 1


def template_dir() -> Path:
    """Folder holding the template: inside the package when installed, else the source tree."""
    packaged = Path(__file__).parent / "templates"
    if (packaged / TEMPLATE_NAME).is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def shell_quote(value: object) -> str:
    """Quote a value as one POSIX shell word."""
    return shlex.quote(str(value))


def sql_literal(value: object) -> str:
    """Quote a value as an SQL string literal (standard_conforming_strings)."""
    return "'" + str(value).replace("'", "''") + "'"


def bre_line_pattern(line: str) -> str:
    """A grep basic regular expression matching ``line`` plus optional trailing blanks."""
    return "^" + _BRE_SPECIAL.sub(r"\\\1", line) + "[[:space:]]*$"


def _check_constants() -> None:
    if not _IDENTIFIER.fullmatch(MIGRATIONS_TABLE):
        raise ValueError(f"invalid migrations table name: {MIGRATIONS_TABLE!r}")
    if not _BIGINT_MIN <= LOCK_KEY <= _BIGINT_MAX:
        raise ValueError(f"advisory lock key out of bigint range: {LOCK_KEY}")
    for word in (LOG_PREFIX, SCHEMA_FILE_ENV, MIGRATIONS_DIR_ENV):
        if not _SAFE_WORD.fullmatch(word):
            raise ValueError(f"unsafe word for the script text: {word!r}")
    if "\n" in NO_TRANSACTION_MARKER or "'" in SCHEMA_VERSION_PREFIX:
        raise ValueError("marker and schema prefix must be single-line, quote-free")
    if CONNECT_ATTEMPTS < 1:
        raise ValueError("CONNECT_ATTEMPTS must be at least 1")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["sh"] = shell_quote
    env.filters["sql"] = sql_literal
    return env


def template_context() -> dict[str, object]:
    """The values rendered into the template (all constants of this module)."""
    return {
        "prog": LOG_PREFIX,
        "schema_env": SCHEMA_FILE_ENV,
        "migrations_env": MIGRATIONS_DIR_ENV,
        "table": MIGRATIONS_TABLE,
        "lock_key": LOCK_KEY,
        "marker_pattern": bre_line_pattern(NO_TRANSACTION_MARKER),
        "schema_prefix": SCHEMA_VERSION_PREFIX,
        "connect_attempts": CONNECT_ATTEMPTS,
    }


@lru_cache(maxsize=1)
def render_migrator_script() -> str:
    """The migrator driver, a POSIX sh script to run as ``/bin/sh -c <script>``."""
    _check_constants()
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(**template_context())
