"""Render the migrator driver: the POSIX sh script run by the one-shot migrator service.

The script (the engine's driver template, ``Migrator.template``, in ``templates/``)
executes the migration plan it is given as its arguments (see
:mod:`clockwork_compose._migrations`); the client reads its connection from the
environment the engine gives the migrator. The values rendered into it
here are this module's constants and the engine's (:class:`_engines.Migrator`), validated
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

from . import _templates
from ._engines import Engine, Migrator, migrating_engine
from ._migrations import ROOT

#: A template every installation has: where it is, the templates are.
TEMPLATE_NAME = "migrator.sh.j2"

#: Environment variable overriding where the plan's paths are (tests and benchmarks run
#: the driver on the host); the migrator's mount, ``_migrations.ROOT``, when unset.
ROOT_ENV = "CLOCKWORK_ROOT"

#: Prefix of every line the driver prints, and its ``$0``.
LOG_PREFIX = "clockwork-migrate"
#: Connection attempts (1 s apart) before the driver gives up on a server not accepting connections.
CONNECT_ATTEMPTS = 5

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_.-]+")
_SAFE_PATH = re.compile(r"(/[A-Za-z0-9_.-]+)+")
_BIGINT_MIN = -(2**63)
_BIGINT_MAX = 2**63 - 1


def template_dir() -> Path:
    """Folder holding the templates: inside the package when installed, else the source tree."""
    packaged = Path(__file__).parent / "templates"
    if (packaged / TEMPLATE_NAME).is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def shell_quote(value: object) -> str:
    """Quote a value as one POSIX shell word."""
    return shlex.quote(str(value))


def _check_constants(migrator: Migrator) -> None:
    if not _IDENTIFIER.fullmatch(migrator.history_table):
        raise ValueError(f"invalid migrations table name: {migrator.history_table!r}")
    lock = migrator.context.get("lock_key")
    if isinstance(lock, int) and not _BIGINT_MIN <= lock <= _BIGINT_MAX:
        raise ValueError(f"advisory lock key out of bigint range: {lock}")
    if isinstance(lock, str) and not _SAFE_WORD.fullmatch(lock):
        raise ValueError(f"unsafe lock name for the script text: {lock!r}")
    for word in (LOG_PREFIX, ROOT_ENV):
        if not _SAFE_WORD.fullmatch(word):
            raise ValueError(f"unsafe word for the script text: {word!r}")
    if not _SAFE_PATH.fullmatch(ROOT):
        raise ValueError(f"unsafe root folder for the script text: {ROOT!r}")
    if CONNECT_ATTEMPTS < 1:
        raise ValueError("CONNECT_ATTEMPTS must be at least 1")


def _engine(engine: Engine | str | None) -> Engine:
    return migrating_engine(engine)


def template_context(engine: Engine | str | None = None) -> dict[str, object]:
    """The values rendered into the engine's template (by default ``DEFAULT_MIGRATIONS``): this module's
    constants, then the engine's own (lock, client...)."""
    migrator = _engine(engine).migrator
    assert migrator is not None
    return {
        "prog": LOG_PREFIX,
        "root_env": ROOT_ENV,
        "root": ROOT,
        "table": migrator.history_table,
        "connect_attempts": CONNECT_ATTEMPTS,
        **migrator.context,
    }


def render_migrator_script(engine: Engine | str | None = None) -> str:
    """The engine's migrator driver (by default ``DEFAULT_MIGRATIONS``), a POSIX sh script to run as
    ``/bin/sh -c <script>``."""
    return _render(_engine(engine).name)


@lru_cache(maxsize=8)
def _render(name: str) -> str:
    migrator = _engine(name).migrator
    assert migrator is not None
    _check_constants(migrator)
    return _templates.render(template_dir(), migrator.template, template_context(name), {"sh": shell_quote})


def migrator_entrypoint(engine: Engine | str | None = None) -> tuple[str, ...]:
    """The migrator's ``entrypoint:`` for the engine (by default ``DEFAULT_MIGRATIONS``); its ``command:``
    is the plan's arguments."""
    return ("/bin/sh", "-c", render_migrator_script(engine), LOG_PREFIX)
