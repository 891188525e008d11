"""The `clockwork` command: thin typer commands over ``_api``; one error handler at the edge."""

from __future__ import annotations

import contextlib
import enum
import itertools
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

from . import _entry
from ._entry import shown as _shown
from ._errors import ClockworkError

if TYPE_CHECKING:
    from rich.console import Console

    from ._assertions import Check
    from ._targets import base as _base

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: flags without "<bool>" placeholders, defaults shown, nothing eaten as markup.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="Compile main.py into a docker-compose.yml, run it, prove it works, tear it down.",
)

#: Exit code of a bug in clockwork itself (sysexits' EX_SOFTWARE); 130: interrupted (Ctrl-C).
INTERNAL_ERROR = 70
INTERRUPTED = 130
#: How a shell reports a process killed by SIGPIPE (128 + 13): where there is no SIGPIPE, the exit code.
SIGPIPE_EXIT = 141
#: ``-C`` given before the subcommand (``clockwork -C DIR build``); one after it wins.
_global_project_dir: Path | None = None


def _project_dir(ctx: typer.Context, param: typer.CallbackParam, value: Path) -> Path:
    """``-C`` after the subcommand, else ``-C`` before it, else the folder of the nearest
    main.py: the current folder, or a parent (as git and Compose look up)."""
    source = ctx.get_parameter_source(param.name) if param.name else None
    if source is not None and source.name != "DEFAULT":
        return value
    if _global_project_dir is not None:
        return _global_project_dir
    from ._loader import find_project

    found = find_project(Path("."))
    return found


ProjectDir = Annotated[
    Path,
    typer.Option(
        "-C",
        "--project-dir",
        metavar="DIR",
        help="Folder that holds main.py [default: the current folder, else the nearest parent with one].",
        show_default=False,
        callback=_project_dir,
    ),
]
Output = Annotated[
    Path | None,  # noqa: UP007 (typer reads the annotation at run time)
    typer.Option(
        "-o",
        "--output",
        metavar="FILE",
        help="Where to write the compose file [default: DIR/docker-compose.yml]; never over a file clockwork did "
        "not generate.",
    ),
]


class Target(enum.StrEnum):
    """`--target`: which orchestrator the generated file is for (see ``_targets``)."""

    compose = "compose"
    swarm = "swarm"
    kubernetes = "kubernetes"


TargetOption = Annotated[
    Target,
    typer.Option(
        "--target",
        "-t",
        help="compose: docker-compose.yml for docker compose; swarm: docker-stack.yml for docker stack deploy; "
        "kubernetes: kubernetes.yaml for kubectl apply.",
    ),
]
Stack = Annotated[
    Optional[str],  # noqa: UP007, UP045 (typer reads the annotation at run time)
    typer.Option("--stack", metavar="NAME", help="Swarm stack name [default: the project name]."),
]
_debug = False


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Map the project's exceptions to a one-line message and an exit code, never a traceback;
    anything else is a bug of ours: "internal error", exit 70, and how to see the traceback.
    Output whose reader went away is neither: clockwork ends silently, as Unix tools do."""
    try:
        yield
    except ClockworkError as exc:
        if _debug:
            raise
        _say(f"error: {exc}" if exc.exit_code == 2 else str(exc))
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        if _debug:
            raise
        _say("interrupted")
        raise typer.Exit(INTERRUPTED) from None
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) and _reader_gone():
            _end_as_unix_tools_do()
        if _debug:
            raise
        _internal_error(exc)
        raise typer.Exit(INTERNAL_ERROR) from None


def _reader_gone() -> bool:
    """Whether whoever read clockwork's stdout or stderr has gone (`clockwork plan | head -1`):
    the write end of a pipe with no reader polls as an error."""
    import select

    for stream in (sys.stdout, sys.stderr):
        try:
            poll = select.poll()
            poll.register(stream.fileno(), select.POLLOUT)
            if any(event & select.POLLERR for _, event in poll.poll(0)):
                return True
        except (AttributeError, OSError, ValueError):  # no file descriptor (a test runner's capture)
            continue
    return False


def _end_as_unix_tools_do() -> NoReturn:
    """The reader of our output went away: end silently, killed by SIGPIPE as `yes | head -1`
    ends `yes` (the shell shows 141), rather than with a traceback or an error message."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            os.dup2(devnull, stream.fileno())  # nothing flushed on the way out can fail again
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(SIGPIPE_EXIT)


def _internal_error(exc: BaseException) -> None:
    """The last-resort message: one line, what broke, and how to get the traceback."""
    detail = " / ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    _say(f"internal error: {what} (a bug in clockwork; run again with --debug for the traceback, and report it)")


def _version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"clockwork-compose {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    project_dir: Annotated[
        Optional[Path],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Option(
            "-C",
            "--project-dir",
            metavar="DIR",
            help="Folder that holds main.py, for any subcommand.",
            show_default=False,
        ),
    ] = None,
    load_timeout: Annotated[
        float,
        typer.Option(
            "--load-timeout",
            metavar="SECONDS",
            envvar="CLOCKWORK_LOAD_TIMEOUT",
            min=0,
            help="Seconds main.py may take to load; 0: no limit.",
        ),
    ] = 60.0,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    global _debug, _global_project_dir
    _debug = debug
    _global_project_dir = project_dir
    source = ctx.get_parameter_source("load_timeout")
    if source is not None and source.name == "COMMANDLINE":
        # The loader reads it there, whichever command (apply, assert, destroy too) loads main.py.
        os.environ["CLOCKWORK_LOAD_TIMEOUT"] = f"{load_timeout:g}"


@app.command()
def build(
    project_dir: ProjectDir = Path("."),
    output: Output = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 with a diff when the file is stale; write nothing.")
    ] = False,
    target: TargetOption = Target.compose,
) -> None:
    """Compile DIR/main.py into docker-compose.yml (or docker-stack.yml for --target swarm), atomically."""
    from . import _api

    with _errors():
        if check:
            result = _api.check(project_dir, output, target.value)
            _say(f"{_shown(result.path)} is up to date")
            return
        _entry.build(project_dir, output, target.value)


class PlanFormat(enum.StrEnum):
    """`plan --format`: the same facts for people, machines and pictures (see ``_render``)."""

    text = "text"
    json = "json"
    mermaid = "mermaid"
    dot = "dot"


@app.command()
def secrets(project_dir: ProjectDir = Path("."), target: TargetOption = Target.kubernetes) -> None:
    """Print the Secret that holds the project's .env values, for `kubectl apply -f -` (--target kubernetes)."""
    from . import _api

    if target is not Target.kubernetes:
        _say(f"--target {target.value}: secrets prints a Kubernetes Secret; give --target kubernetes")
        raise typer.Exit(2)
    with _errors():
        text, notes = _api.secrets(project_dir)
        for note in notes:
            _say(note)
        print(text, end="")


@app.command()
def plan(
    project_dir: ProjectDir = Path("."),
    fmt: Annotated[
        PlanFormat,
        typer.Option(
            "--format",
            "-f",
            help="text for people; json for machines; mermaid or dot to draw the dependency graph.",
        ),
    ] = PlanFormat.text,
) -> None:
    """Show the deployment layers and, per service, what it waits for and why."""
    from . import _api

    with _errors():
        project, _, _ = _api.compile_project(project_dir)
        if fmt is not PlanFormat.text:
            from . import _render

            sys.stdout.write(_render.render(fmt.value, project.name, _api.plan(project)))
            return
        for number, layer in enumerate(_api.plan(project), start=1):
            print(f"Layer {number}")
            for step in layer:
                print(f"  {step.service}  [{step.role}]" + (f"  {step.note}" if step.note else ""))
                for line in step.details:
                    print(f"      {line}")
                if not step.waits_for:
                    print("      starts first: depends on nothing")
                for target, condition, reasons in step.waits_for:
                    print(f"      waits for {target} {condition}  ({', '.join(reasons)})")
                if step.no_probe:
                    print("      no readiness probe: apply sees it running, never ready")
        unprobed = [step.service for layer in _api.plan(project) for step in layer if step.no_probe]
        if unprobed:
            print(f"No readiness probe: {', '.join(unprobed)} (declare readiness=HttpProbe(...) or TcpProbe(...))")


Timeout = Annotated[
    Optional[float],  # noqa: UP007, UP045 (typer reads the annotation at run time)
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Seconds to wait at most [default: assert 15; apply the longest readiness budget plus a margin].",
        min=0,
    ),
]
_PHASE_STYLE = {
    "healthy": "green",
    "running": "green",
    "migrated": "green",
    "completed": "green",
    "failed": "bold red",
    "unhealthy": "bold red",
    "restarting": "bold red",
    "exited": "bold red",
}  # anything else, "running (no readiness probe)" included, is yellow: not known to be ready


def _console(stderr: bool = True) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True, highlight=False)


@app.command()
def apply(
    project_dir: ProjectDir = Path("."),
    timeout: Timeout = None,
    replace_data: Annotated[
        bool,
        typer.Option(
            "--replace-data",
            help="Recreate a container even when it would leave its data volume behind; "
            "start a renamed project empty, leaving its old data behind.",
        ),
    ] = False,
    adopt_data: Annotated[
        bool,
        typer.Option(
            "--adopt-data",
            help="Take over the volumes and containers a moved or renamed project left in its old folder.",
        ),
    ] = False,
    adopt_data_from: Annotated[
        Optional[Path],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Option(
            "--adopt-data-from",
            metavar="FOLDER",
            help="--adopt-data, taking the data FOLDER left where several old folders left some.",
        ),
    ] = None,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot",
            help="Dump each migrated database that holds applied migrations before its migrator applies "
            "pending files (into volume <database>_snapshots; see `clockwork snapshots`).",
        ),
    ] = False,
    target: TargetOption = Target.compose,
    stack: Stack = None,
    registry: Annotated[
        Optional[str],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Option(
            "--registry",
            metavar="HOST:PORT",
            help="Swarm: push each image built here to this registry and deploy it by digest, "
            "so that every node runs the same bits (needed on more than one node).",
        ),
    ] = None,
) -> None:
    """Build, then start everything in dependency order and wait until it is healthy."""
    from ._targets.base import ApplyOptions

    err = _console()
    runner = _runner(target, stack)
    adopting = adopt_data or adopt_data_from is not None

    def progress(service: str, phase: str, seconds: float) -> None:
        err.print(f"  {seconds:5.1f}s  {service:<24} [{_PHASE_STYLE.get(phase, 'yellow')}]{phase}[/]")

    options = ApplyOptions(
        timeout=timeout,
        on_progress=progress,
        stack=stack,
        replace_data=replace_data,
        adopt_data=adopt_data,
        adopt_from=adopt_data_from.absolute() if adopt_data_from is not None else None,
        registry=registry,
        snapshot=snapshot,
    )
    refused = runner.refuse(options)
    if refused is not None:
        _say(f"error: {refused}")
        raise typer.Exit(2)
    with _errors():
        if runner.announces:
            err.print(f"applying {_shown(project_dir.resolve()) if project_dir != Path('.') else Path.cwd().name}")
        try:
            report = runner.apply(project_dir, options, _needs())
        except KeyboardInterrupt:  # before apply waited: during the build or before compose up
            if not runner.announces:
                raise
            again = "clockwork apply --adopt-data" if adopting else "clockwork apply"
            err.print(f"[bold red]interrupted[/] (Ctrl-C) before apply started waiting; run `{again}` again")
            raise typer.Exit(130) from None
        for note in report.notes:
            _say(note)
        for taken in report.snapshots:
            size = _bytes(taken.size)
            _say(f"snapshot of {taken.database} before {taken.before}: {taken.name} ({size}, {taken.seconds:.1f}s)")
        _apply_summary(err, report)
        _apply_removals(report)
        if report.failure is not None and report.failure.interrupted:
            raise typer.Exit(130)
        if not report.ok:
            raise typer.Exit(1)


def _runner(target: Target, stack: str | None) -> _base.Target:
    """The target apply, assert, destroy, ps and logs dispatch to: refused (exit 2) when clockwork does
    not run it, or when --stack is given to a target without stacks."""
    from . import _targets

    runner = _targets.target(target.value)
    if runner.runs_elsewhere:
        _say(runner.runs_elsewhere)
        raise typer.Exit(2)
    if stack is not None and not runner.stacks:
        _say(f"error: --stack is for --target swarm (the {target.value} target has no stack)")
        raise typer.Exit(2)
    return runner


def _needs() -> _base.Needs:
    """What a runtime takes from above it: the build, the compile, the project lock, the environment."""
    from . import _api, _docker
    from ._targets.base import Needs

    return Needs(build=_api.build, lock=_docker.project_lock, environ=os.environ, compile=_api.compile_project)


def _apply_removals(report: _base.ApplyReport) -> None:
    """Containers apply removed and the volumes it kept or adopted, each with how to delete it."""
    from ._targets.base import human_size

    for folder, group in itertools.groupby(report.stranded, key=lambda c: c.working_dir):
        names = ", ".join(c.name for c in group)
        _say(f"replaced containers {names}: they were created in {folder}, which is gone")
    for taken in report.adopted:
        if taken.kib is None:
            _say(f"adopted volume {taken.source} (created in {taken.folder}, which is gone): it is this folder's now")
            continue
        size = human_size(taken.kib)
        origin = f" (created in {taken.folder}, which is gone)" if taken.folder else ""
        _say(
            f"copied volume {taken.source}{origin} into {taken.target} ({size}); kept {taken.source}: "
            f"delete it with `docker volume rm {taken.source}`"
        )
    for orphan in report.orphans:
        _say(f"removed {orphan.container}: service {orphan.service} is no longer declared in main.py")
        for volume in orphan.volumes:
            _say(f"kept volume {volume} of {orphan.service}; delete it with `docker volume rm {volume}`")
    for move in report.replaced:
        _say(f"kept volume {move.old} of {move.service} (--replace-data); delete it with `docker volume rm {move.old}`")


#: The summary counts these changes, in this order (Compose recreates, Swarm updates).
_CHANGES = ("created", "recreated", "updated", "unchanged")
#: An app without a readiness probe, running (``compose.runtime.UNPROBED``).
_UNPROBED = "running (no readiness probe)"


def _apply_summary(err: Console, report: _base.ApplyReport) -> None:
    from rich.markup import escape

    width = max([10, *(len(s.phase) for s in report.services)])
    for s in report.services:
        style = _PHASE_STYLE.get(s.phase, "yellow")
        err.print(f"  {s.name:<24} {s.role:<9} [{style}]{s.phase:<{width}}[/] {s.change}")
    if report.ok:
        counts = {c: sum(1 for s in report.services if s.change == c) for c in _CHANGES}
        done = ", ".join(f"{n} {c}" for c, n in counts.items() if n)
        if report.unchanged:
            done += f"; {report.unchanged}"
        err.print(f"[green]applied[/] {report.project} in {report.seconds:.1f}s ({done})")
        unprobed = [s.name for s in report.services if s.phase == _UNPROBED]
        if unprobed:
            err.print(
                f"[yellow]not known to be ready[/]: {', '.join(unprobed)} "
                '(no readiness probe: declare readiness=HttpProbe("/health") or TcpProbe(PORT))'
            )
        return
    failure = report.failure
    assert failure is not None
    if failure.interrupted:
        err.print(f"[bold red]apply interrupted[/] after {report.seconds:.1f}s: {escape(failure.reason)}")
        _down(err, failure.down)
        return
    err.print(f"[bold red]apply failed[/] after {report.seconds:.1f}s: {escape(failure.reason)}")
    _down(err, failure.down)
    if failure.logs:
        err.print(f"last log lines of {failure.service}:")
        err.print("\n".join(f"  | {escape(line)}" for line in failure.logs.splitlines()))


def _down(err: Console, down: Sequence[str]) -> None:
    """The services apply found running and leaves not running, each with what it is now."""
    from rich.markup import escape

    if down:
        err.print("[bold red]running before this apply, not now[/]:")
        err.print("\n".join(f"  {escape(line)}" for line in down))


@app.command("import")
def import_(
    file: Annotated[
        Optional[Path],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Argument(
            metavar="[FILE]",
            help="The compose file [default: the one Compose reads in DIR].",
            show_default=False,
        ),
    ] = None,
    project_dir: Annotated[
        Optional[Path],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Option(
            "-C",
            "--project-dir",
            metavar="DIR",
            help="Where to write main.py [default: FILE's folder, else the current folder].",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing main.py.")] = False,
) -> None:
    """Write DIR/main.py from an existing compose file (its .env values stay in .env)."""
    from . import _import

    with _errors():
        folder = project_dir or _global_project_dir or (file.parent if file is not None else Path("."))
        imported = _import.import_file(_import.source_file(file, folder), folder, force)
        for line in _import.summary(imported, folder):
            _say(line)


@app.command("assert")
def assert_(
    project_dir: ProjectDir = Path("."),
    timeout: Timeout = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as a JSON list on stdout.")] = False,
    target: TargetOption = Target.compose,
    stack: Stack = None,
) -> None:
    """Check the running project: built-in checks from the declarations, then user assertions."""
    import dataclasses
    import json

    runner = _runner(target, stack)
    with _errors():
        report = runner.check(project_dir, 15.0 if timeout is None else timeout, _needs(), stack)
        if as_json:
            print(json.dumps([dataclasses.asdict(c) for c in report.checks], indent=2))
        _print_checks(report.checks, report.seconds, summary_only=as_json)


def _print_checks(checks: Sequence[Check], seconds: float, summary_only: bool = False) -> None:
    """One PASS/FAIL line per check on stdout, then the count (on stderr when the checks went
    out as JSON); exit 1 when one failed."""
    failed = sum(1 for c in checks if not c.passed)
    summary = f"{len(checks) - failed} passed, {failed} failed in {seconds:.1f}s"
    if summary_only:
        _say(summary)
    else:
        out = _console(stderr=False)
        for c in checks:
            mark = "[green]PASS[/]" if c.passed else "[bold red]FAIL[/]"
            out.print(f"{mark}  {c.name}  {_escape(c.detail)}  ({c.seconds:.1f}s)")
        out.print(summary)
    if failed:
        raise typer.Exit(1)


def _bytes(size: int) -> str:
    """Bytes in decimal units, as ``human_size`` writes them: ``13.3 MB``."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


@app.command("snapshots")
def snapshots(
    project_dir: ProjectDir = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the snapshots as JSON on stdout.")] = False,
) -> None:
    """List the snapshots taken before migrations ran: database, size, time, the migration each precedes."""
    from . import _snapshots

    with _errors():
        found = _snapshots.snapshots(project_dir)
    if as_json:
        import dataclasses
        import json

        fields = ("name", "database", "size", "taken_at", "before", "volume")
        print(json.dumps([{k: dataclasses.asdict(s)[k] for k in fields} for s in found], indent=2))
        return
    if not found:
        _say("no snapshots (take one with `clockwork apply --snapshot`, or declare snapshot=True)")
        return
    rows = [(s.name, s.database, _bytes(s.size), s.taken_at) for s in found]
    print(_table(("SNAPSHOT", "DATABASE", "SIZE", "TAKEN (UTC)"), rows))


@app.command()
def restore(
    snapshot: Annotated[
        str, typer.Argument(metavar="SNAPSHOT", help="A name `clockwork snapshots` lists (DATABASE/NAME also works).")
    ],
    project_dir: ProjectDir = Path("."),
    discard_newer: Annotated[
        bool,
        typer.Option("--discard-newer", help="Go ahead although what was written since the snapshot is lost."),
    ] = False,
    timeout: Timeout = None,
) -> None:
    """Put a database back as it was at a snapshot: stop its apps, drop and recreate it, load the dump
    (its migration history included), start the apps, then run the checks of `clockwork assert`."""
    from . import _snapshots

    with _errors():
        done = _snapshots.restore(project_dir, snapshot, discard_newer, 60.0 if timeout is None else timeout)
    shot = done.snapshot
    _say(f"restored {shot.database} from {shot.name} (taken {shot.taken_at}) in {done.seconds:.1f}s")
    if done.discarded:
        _say(f"no longer recorded: {', '.join(done.discarded)} (the next apply runs those still in the folder again)")
    if done.restarted:
        _say(f"stopped and started again: {', '.join(done.restarted)}")
    _print_checks(done.checks.checks, done.checks.seconds)


@app.command()
def destroy(
    project_dir: ProjectDir = Path("."),
    keep_volumes: Annotated[bool, typer.Option("--keep-volumes", help="Keep the named volumes (the data).")] = False,
    target: TargetOption = Target.compose,
    stack: Stack = None,
) -> None:
    """Stop and remove the project's containers and network, and its volumes unless kept."""
    runner = _runner(target, stack)
    with _errors():
        report = runner.destroy(project_dir, keep_volumes, stack)
        _say_removed(report.removed, report.nothing)
        for line in report.left_alone:
            _say(line)
        if keep_volumes:
            _say("kept volumes (--keep-volumes)")


@app.command()
def logs(
    services: Annotated[
        Optional[list[str]],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Argument(metavar="[SERVICE]...", help="Only these services [default: every one].", show_default=False),
    ] = None,
    project_dir: ProjectDir = Path("."),
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
    tail: Annotated[
        Optional[str],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Option("--tail", metavar="N", help="Only the last N lines of each service [default: all]."),
    ] = None,
    since: Annotated[
        Optional[str],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Option("--since", metavar="T", help="Only lines since T: a duration (10m, 1h30m), a date or time."),
    ] = None,
    target: TargetOption = Target.compose,
    stack: Stack = None,
) -> None:
    """Print the logs of this folder's services, each line after its service's name."""
    from ._docker import LogOptions
    from ._targets.base import since_value, tail_value

    runner = _runner(target, stack)
    with _errors():
        options = LogOptions(follow, tail_value(tail), since_value(since))
        stream = runner.logs(project_dir, tuple(services or ()), options, stack)
        for note in stream.notes:
            _say(note)
        if stream.nothing:
            _say(stream.nothing)
            return
        width = max(len(name) for name in stream.services)
        try:
            for line in stream.lines:
                print(f"{line.source:<{width}} | {line.text}", flush=follow)
        except KeyboardInterrupt:  # --follow ends with Ctrl-C: that is no error
            raise typer.Exit(INTERRUPTED) from None


def _terminated(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


#: The columns of `clockwork ps`, and the keys of each row of `ps --json`.
_PS_COLUMNS = ("service", "role", "state", "health", "ports", "image", "started", "nodes")


@app.command()
def dev(project_dir: ProjectDir = Path("."), timeout: Timeout = None) -> None:
    """Apply, then until Ctrl-C: every service's logs, file changes synced into the running
    containers (the watch rules, through `docker compose watch`), and migrations re-applied
    when one is added or changed. Ctrl-C leaves the stack running (exit 130)."""
    import threading
    import time

    from . import _api
    from ._docker import LogOptions
    from ._targets.base import ApplyOptions
    from ._targets.compose import dev as _dev

    err = _console()
    runner = _runner(Target.compose, None)
    options = ApplyOptions(
        timeout=timeout,
        on_progress=lambda service, phase, seconds: err.print(
            f"  {seconds:5.1f}s  {service:<24} [{_PHASE_STYLE.get(phase, 'yellow')}]{phase}[/]"
        ),
    )
    applying = threading.Lock()

    def applied(report: _base.ApplyReport) -> bool:
        for note in report.notes:
            _say(note)
        _apply_summary(err, report)
        _apply_removals(report)
        return report.ok

    def reapply() -> None:  # a migration or schema file changed
        with applying:
            err.print("migrations changed: applying")
            try:
                applied(runner.apply(project_dir, ApplyOptions(timeout=timeout), _needs()))
            except ClockworkError as exc:
                _say(f"error: {exc}" if exc.exit_code == 2 else str(exc))
            err.print("watching (Ctrl-C stops watching; the stack keeps running)")

    session = None
    signal.signal(signal.SIGTERM, _terminated)  # stop the watchers on `kill` too, not only on Ctrl-C
    since = str(int(time.time()))  # the logs of what this apply starts, not of earlier runs
    with _errors():
        try:
            err.print(f"applying {_shown(project_dir.resolve()) if project_dir != Path('.') else Path.cwd().name}")
            report = runner.apply(project_dir, options, _needs())
            if not applied(report):
                raise typer.Exit(INTERRUPTED if report.failure is not None and report.failure.interrupted else 1)
            project, _, file = _api.compile_project(project_dir)
            session = _dev.Session(
                project, project_dir.resolve(), file, reapply, lambda line: err.print(f"watch | {line}", markup=False)
            )
            err.print("watching (Ctrl-C stops watching; the stack keeps running)")
            stream = runner.logs(project_dir, (), LogOptions(follow=True, since=since), None)
            width = max([0, *(len(name) for name in stream.services)])
            for line in stream.lines:
                print(f"{line.source:<{width}} | {line.text}", flush=True)
            threading.Event().wait()  # every container stopped: keep watching files
        except KeyboardInterrupt:
            raise typer.Exit(INTERRUPTED) from None
        finally:
            if session is not None:
                session.stop()


@app.command()
def ps(
    project_dir: ProjectDir = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the services as a JSON list on stdout.")] = False,
    target: TargetOption = Target.compose,
    stack: Stack = None,
) -> None:
    """List this folder's services: role, state, health, published ports, image, start time (and node on Swarm)."""
    import json

    runner = _runner(target, stack)
    with _errors():
        report = runner.ps(project_dir, stack)
        for note in report.notes:
            _say(note)
        rows = [_ps_row(s) for s in report.services]
        if as_json:
            print(json.dumps(rows, indent=2))
        elif rows:
            columns = [c for c in _PS_COLUMNS if c != "nodes" or any(r["nodes"] for r in rows)]
            print(_table([c.upper() for c in columns], [[_cell(r[c]) for c in columns] for r in rows]))
        if report.nothing:
            _say(report.nothing)


def _ps_row(s: _base.ServiceStatus) -> dict[str, object]:
    """A row of `ps --json`: every key of ``_PS_COLUMNS``, always, in that order."""
    started = s.started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if s.started is not None else None
    values = (s.service, s.role, s.state, s.health, list(s.ports), s.image, started, list(s.nodes))
    return dict(zip(_PS_COLUMNS, values, strict=True))


def _cell(value: object) -> str:
    if value is None or value == "" or value == []:
        return "-"
    return ", ".join(value) if isinstance(value, list) else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns left-aligned, two spaces apart, the last one not padded."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _say_removed(removed: Mapping[str, Sequence[str]], nothing: str) -> None:
    """One line per kind of thing destroy removed, or that there was nothing to remove."""
    for kind, names in removed.items():
        if names:
            _say(f"removed {kind}: {', '.join(names)}")
    if not any(removed.values()):
        _say(f"nothing to remove: {nothing}")


migrations_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="See, create and lint migrations; manage the history clockwork keeps in each database.",
)
app.add_typer(migrations_app, name="migrations")


@migrations_app.command("clear-failed")
def clear_failed(
    project_dir: ProjectDir = Path("."),
    database: Annotated[
        Optional[str],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Option("--database", metavar="NAME", help="Only this database resource [default: every one]."),
    ] = None,
) -> None:
    """Forget migrations recorded failed (MariaDB/MySQL), after you fixed the database by hand:
    the next apply runs those files again."""
    from . import _history

    with _errors():
        for cleared in _history.clear_failed(project_dir, database):
            if cleared.records:
                names = ", ".join(f"{name} ({state})" for name, state in cleared.records)
                _say(f"{cleared.database}: cleared {names}: the next apply runs them again")
            else:
                _say(f"{cleared.database}: no failed migration recorded")


@migrations_app.command("status")
def migrations_status(
    project_dir: ProjectDir = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the files as JSON on stdout.")] = False,
) -> None:
    """List each migration file of each database: applied (and when), pending, changed since it was
    applied, or applied but missing from the folder. Reads the running database; changes nothing."""
    from . import _migtools

    with _errors():
        databases = _migtools.status(project_dir)
    if as_json:
        import json
        from dataclasses import asdict

        print(json.dumps([asdict(d) for d in databases], indent=2))
        return
    for database in databases:
        counts = ", ".join(f"{database.count(s)} {s}" for s in ("applied", "pending", "changed", "missing"))
        print(f"{database.database} ({database.convention}): {counts}")
        for file in database.files:
            when = f"  {file.applied_at}" if file.applied_at else ""
            print(f"  {file.state:<8} {file.path or file.version}{when}")


@migrations_app.command("new")
def migrations_new(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What the migration does, e.g. add_email.")],
    project_dir: ProjectDir = Path("."),
    database: Annotated[
        Optional[str],  # noqa: UP007, UP045 (typer reads the annotation at run time)
        typer.Option("--database", metavar="NAME", help="The database resource [default: the only one migrated]."),
    ] = None,
) -> None:
    """Create the next migration file in the folder's convention (plain 001_, golang-migrate up/down,
    Flyway V<n>__, dbmate, goose, timestamp); never over an existing file."""
    from . import _migtools

    with _errors():
        for path in _migtools.new(project_dir, name, database):
            print(_shown(path))


@migrations_app.command("lint")
def migrations_lint(
    project_dir: ProjectDir = Path("."),
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when there are findings.")] = False,
) -> None:
    """Flag pending statements that lock tables or lose data (file:line, why, the safer form)."""
    from . import _migtools

    with _errors():
        report = _migtools.lint(project_dir)
    for note in report.notes:
        _say(note)
    for finding in report.findings:
        print(f"warning: {finding}")
    _say(f"{len(report.findings)} finding{'' if len(report.findings) == 1 else 's'}")
    if strict and report.findings:
        raise typer.Exit(1)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def run(failed: BaseException | None = None) -> None:
    """The commands, behind the last-resort handler (``_entry.run`` is the entry point);
    ``failed``: the exception of a build ``_entry`` ran, reported as the command reports it."""
    try:
        try:
            if failed is None:
                app(prog_name="clockwork")
            else:
                _report(failed)
        finally:
            sys.stdout.flush()  # here, not at interpreter exit, where a broken pipe prints a traceback
    except SystemExit as exc:
        loader = sys.modules.get(f"{__package__}._loader")
        if loader is not None and loader.left_running():
            # A thread of main.py still runs (the load gave up on it): exiting would wait for it.
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        raise
    except BrokenPipeError as exc:
        if _reader_gone():
            _end_as_unix_tools_do()
        _internal_error(exc)
        sys.exit(INTERNAL_ERROR)
    except KeyboardInterrupt:
        _say("interrupted")
        sys.exit(INTERRUPTED)
    except Exception as exc:  # what escaped every command's _errors(): a bug of ours
        if _debug:
            raise
        _internal_error(exc)
        sys.exit(INTERNAL_ERROR)


def _report(failed: BaseException) -> NoReturn:
    try:
        with _errors():
            raise failed
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
