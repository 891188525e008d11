"""The `clockwork` command: thin typer commands over ``_api``; one error handler at the edge."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._errors import ClockworkError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Compile main.py into a docker-compose.yml, run it, prove it works, tear it down.",
)

ProjectDir = Annotated[
    Path, typer.Option("-C", "--project-dir", help="Folder that holds main.py.", file_okay=False)
]
Output = Annotated[
    Optional[Path],  # noqa: UP007 (typer reads the annotation at run time)
    typer.Option("-o", "--output", help="Where to write the compose file [default: DIR/docker-compose.yml].", dir_okay=False),
]
_debug = False


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Map the project's exceptions to a one-line message and an exit code, never a traceback."""
    try:
        yield
    except ClockworkError as exc:
        if _debug:
            raise
        _say(f"error: {exc}" if exc.exit_code == 2 else str(exc))
        raise typer.Exit(exc.exit_code) from None


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    global _debug
    _debug = debug


@app.command()
def build(
    project_dir: ProjectDir = Path("."),
    output: Output = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 with a diff when the file is stale; write nothing.")] = False,
) -> None:
    """Compile DIR/main.py into docker-compose.yml (written atomically)."""
    from . import _api

    with _errors():
        if check:
            result = _api.check(project_dir, output)
            _say(f"{_shown(result.path)} is up to date")
            return
        result = _api.build(project_dir, output)
        services = result.project.services.values()
        migrators = sum(1 for s in services if s.role.value == "migrator")
        verb = "wrote" if result.changed else "unchanged:"
        counts = f"{len(services) - migrators} services, {migrators} migrator{'' if migrators == 1 else 's'}"
        _say(f"{verb} {_shown(result.path)} ({counts})")


@app.command()
def plan(project_dir: ProjectDir = Path("."), output: Output = None) -> None:
    """Show the deployment layers and, per service, what it waits for and why."""
    from . import _api

    with _errors():
        project, _, _ = _api.compile_project(project_dir, output)
        for number, layer in enumerate(_api.plan(project), start=1):
            print(f"Layer {number}")
            for step in layer:
                print(f"  {step.service}  [{step.role}]" + (f"  {step.note}" if step.note else ""))
                if not step.waits_for:
                    print("      starts first: depends on nothing")
                for target, condition, reasons in step.waits_for:
                    print(f"      waits for {target} {condition}  ({', '.join(reasons)})")


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def run() -> None:
    app()
