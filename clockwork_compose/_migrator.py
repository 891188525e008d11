"""Render the migrator driver: the POSIX sh script run by the one-shot migrator service.

The script (``templates/migrator.sh.j2``) executes the migration plan it is given as its
arguments (see :mod:`clockwork_compose._migrations`); libpq reads ``PG*`` from the
environment. The values rendered into it here are this module's own constants, validated
before use. The compiler sets ``entrypoint:`` to :func:`migrator_entrypoint` (``/bin/sh -c
<script> clockwork-migrate``: the last word is the script's ``$0``) and ``command:`` to the
plan's arguments, so the container runs ``/bin/sh -c <script> clockwork-migrate <plan...>``
(escaping ``$`` as ``$$`` for Compose).
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATE_NAME = "migrator.sh.j2"

#: Environment variable overriding where the plan's paths are (tests and benchmarks run
#: the driver on the host); the migrator's mount, :data:`ROOT`, when unset.
ROOT_ENV = "CLOCKWORK_ROOT"
#: Where the migrator's files are mounted (the plan's paths are relative to it).
ROOT = "/clockwork"

#: Bookkeeping table: ``(version text primary key, checksum text, applied_at timestamptz,
#: note text)``; ``note`` says where an adopted step's history came from.
MIGRATIONS_TABLE = "clockwork_migrations"
#: ``pg_advisory_lock`` key serialising concurrent migrator runs on one database
#: (the first 8 bytes of sha256("clockwork-compose:migrations"), as a signed bigint).
LOCK_KEY = 3567609838304158359
#: Prefix of every line the driver prints, and its ``$0``.
LOG_PREFIX = "clockwork-migrate"
#: pg_isready probes (1 s apart) before trying psql anyway on a server not accepting connections.
CONNECT_ATTEMPTS = 5

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_.-]+")
_SAFE_PATH = re.compile(r"(/[A-Za-z0-9_.-]+)+")
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


def _check_constants() -> None:
    if not _IDENTIFIER.fullmatch(MIGRATIONS_TABLE):
        raise ValueError(f"invalid migrations table name: {MIGRATIONS_TABLE!r}")
    if not _BIGINT_MIN <= LOCK_KEY <= _BIGINT_MAX:
        raise ValueError(f"advisory lock key out of bigint range: {LOCK_KEY}")
    for word in (LOG_PREFIX, ROOT_ENV):
        if not _SAFE_WORD.fullmatch(word):
            raise ValueError(f"unsafe word for the script text: {word!r}")
    if not _SAFE_PATH.fullmatch(ROOT):
        raise ValueError(f"unsafe root folder for the script text: {ROOT!r}")
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
    return env


def template_context() -> dict[str, object]:
    """The values rendered into the template (all constants of this module)."""
    return {
        "prog": LOG_PREFIX,
        "root_env": ROOT_ENV,
        "root": ROOT,
        "table": MIGRATIONS_TABLE,
        "lock_key": LOCK_KEY,
        "connect_attempts": CONNECT_ATTEMPTS,
    }


@lru_cache(maxsize=1)
def render_migrator_script() -> str:
    """The migrator driver, a POSIX sh script to run as ``/bin/sh -c <script>``."""
    _check_constants()
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(**template_context())


def migrator_entrypoint() -> tuple[str, ...]:
    """The migrator's ``entrypoint:``; its ``command:`` is the plan's arguments."""
    return ("/bin/sh", "-c", render_migrator_script(), LOG_PREFIX)
