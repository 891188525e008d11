"""The `clockwork` command's entry point: a plain `clockwork build` starts without typer.

Typer, with its click and the pydantic adapters it builds for every option, is a quarter of
the start-up of `clockwork build`, the command run most. A command line read here in full
(``build`` with ``-C/--project-dir``, ``-o/--output`` and ``-t/--target``, each at most once)
runs :func:`build`, the code the typer command runs too; any other (another command,
``--help``, ``--check``, an option before ``build``, an option given twice or glued to its
value, a value that looks like an option, shell completion, ``CLOCKWORK_LOAD_TIMEOUT``,
which the typer app validates) goes to the typer app as it is. A build run here that fails
is handed to ``_cli.run`` with its exception: the message and exit code are the typer
command's, and typer is imported only then.

:func:`run`, the command itself, ends the process without Python's teardown, which costs a
build more than its own work once pydantic is loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import _api

COMMAND = "build"
#: The options read here, by spelling, and the parameter each sets.
_OPTIONS = {
    "-C": "project_dir",
    "--project-dir": "project_dir",
    "-o": "output",
    "--output": "output",
    "-t": "target",
    "--target": "target",
}
#: ``--target`` values (``_cli.Target``); any other goes to typer, which names the choices.
TARGETS = ("compose", "swarm", "kubernetes")
#: Variables the typer app reads: click's shell completion, and the load timeout it validates.
_TYPER_VARIABLES = ("_CLOCKWORK_COMPLETE", "CLOCKWORK_LOAD_TIMEOUT")


def plain_build(argv: Sequence[str], environ: Mapping[str, str]) -> dict[str, str] | None:
    """The options of a ``build`` command line this module runs itself, or None for typer."""
    if not argv or argv[0] != COMMAND or any(name in environ for name in _TYPER_VARIABLES):
        return None
    found: dict[str, str] = {}
    words = iter(argv[1:])
    for word in words:
        name, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        key = _OPTIONS.get(name)
        if key is None or key in found:
            return None
        if not equals:
            value = next(words, "")
        if not value or value.startswith("-"):
            return None
        found[key] = value
    if found.get("target", TARGETS[0]) not in TARGETS:
        return None
    return found


#: Python's exit status when it cannot flush the standard output at exit.
UNFLUSHED_EXIT = 120


def run() -> None:
    """The `clockwork` command (its script and ``python -m clockwork_compose``): :func:`main`
    in a process that skips Python's teardown when it ends.

    Freeing every module and object at exit takes 30-40 ms once pydantic is loaded, more than
    a build's own work. The process ends as Python's exit does up to the teardown: threads
    that are not daemons are joined and every exit handler runs (the one registered here,
    first, runs last); then the files the command left open are flushed (as the teardown
    would close them), what it made and no longer uses is collected, the standard streams
    are flushed, and the process exits with the same status.
    """
    gc.freeze()  # what is loaded so far lives as long as the process: the last collection skips it
    ending = _Ending()
    atexit.register(ending)
    try:
        main()
    except SystemExit as exc:
        ending.code = exc.code
        raise
    except BaseException:  # an exit Python reports itself (a traceback, a signal): its own way
        atexit.unregister(ending)
        raise


class _Ending:
    """The exit handler :func:`run` registers: Python's own exit from here on, less the teardown."""

    def __init__(self) -> None:
        self.code: object = None

    def __call__(self) -> None:
        for made in gc.get_objects():  # what the command made (the rest is frozen): files flushed
            if isinstance(made, io.IOBase):
                with contextlib.suppress(Exception):
                    if not made.closed:
                        made.flush()
        gc.collect()  # after: CPython closes a file collected with its buffer in one pass unflushed
        code = self.code if isinstance(self.code, int) else (0 if self.code is None else 1)
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream, as Python's exit ignores it
                if stream is sys.stdout and code == 0:
                    code = UNFLUSHED_EXIT
        os._exit(code)


def main() -> None:
    """`clockwork`: a plain build here, any other command line through the typer app."""
    options = plain_build(sys.argv[1:], os.environ)
    if options is None:
        from ._cli import run

        run()
        return
    try:
        if "project_dir" in options:
            project_dir = Path(options["project_dir"])
        else:
            from ._loader import find_project

            project_dir = find_project(Path("."))
        output = Path(options["output"]) if "output" in options else None
        build(project_dir, output, options.get("target", TARGETS[0]))
        sys.stdout.flush()
    except BaseException as exc:  # reported as the typer command reports it
        from ._cli import run

        run(failed=exc)


def build(project_dir: Path, output: Path | None, target: str) -> None:
    """`clockwork build` without ``--check``: compile, write, and say what was written (stderr)."""
    from . import _api

    result = _api.build(project_dir, output, target=target)
    services = result.project.services.values()
    migrators = sum(1 for s in services if s.role.value == "migrator")
    verb = "wrote" if result.changed else "unchanged:"
    counts = f"{len(services) - migrators} services, {migrators} migrator{'' if migrators == 1 else 's'}"
    _say(f"{verb} {shown(result.path)} ({counts})")
    report_secrets(result)
    report_lint(result)


#: Lint findings build prints at most; `clockwork migrations lint` lists them all.
LINT_SHOWN = 10


def report_lint(result: _api.Build) -> None:
    """Findings in migrations new or changed since the last build, as warnings (stderr)."""
    for finding in result.lint[:LINT_SHOWN]:
        _say(f"warning: {finding}")
    if result.lint:
        more = len(result.lint) - LINT_SHOWN
        also = f"{more} more; " if more > 0 else ""
        _say(f"{also}these are new or changed since the last build: `clockwork migrations lint` lists what is pending")


def report_secrets(result: _api.Build) -> None:
    """`build`'s warnings and notes about secrets and .env, one line each, to stderr."""
    for warning in result.warnings:
        _say(f"warning: {warning}")
    for note in result.notes:
        _say(note)
    if result.unset_secrets:
        names = ", ".join(result.unset_secrets)
        _say(f"not set yet: {names} (left out of .env; export them or add them to .env before clockwork apply)")


def shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it, as messages show paths."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _say(message: str) -> None:
    print(message, file=sys.stderr)
