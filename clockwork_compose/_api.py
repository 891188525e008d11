"""Plain functions behind the CLI: they return data, never print or exit."""

from __future__ import annotations

import contextlib
import gc
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import _envfile, _graph, _loader, _lower
from . import _targets as targets
from ._envfile import write_atomic
from ._errors import CheckFailed, UnusableFile
from ._model import Project

if TYPE_CHECKING:
    from ._isolation import Isolation


@dataclass(frozen=True)
class Build:
    """What ``build`` did: the model, the text it wrote (or found unchanged) and what to tell."""

    project: Project
    text: str
    path: Path
    changed: bool
    #: Secrets that have no value yet: their .env variables were left as they were.
    unset_secrets: tuple[str, ...] = ()
    #: What the user should be told besides warnings, e.g. that .env was added to .gitignore.
    notes: tuple[str, ...] = field(default=())
    #: Lint findings in the migrations new or changed since the file was last written.
    lint: tuple[str, ...] = field(default=())

    @property
    def warnings(self) -> list[str]:
        return self.project.warnings


def compile_project(
    project_dir: Path,
    output: Path | None = None,
    target: str = targets.DEFAULT,
    isolation: Isolation | None = None,
) -> tuple[Project, str, Path]:
    """Load main.py and compile it for ``target`` (see ``_targets``): the model, the file's
    text, and where it belongs (the target's file next to main.py unless ``output``). The
    text is checked against the target's schema, unless the file at that path already holds
    exactly these bytes: they were checked when they were written, and the everyday rebuild
    with nothing changed then loads no schema.

    ``isolation``: the model rewritten to run beside other copies of the project
    (``_isolation``; the ``clockwork_stack`` fixture's copies); Compose only."""
    emitter = targets.emitter(target)
    project_dir = project_dir.resolve()
    path = (output if output is not None else project_dir / emitter.FILE).resolve()
    resources = _loader.load(project_dir)
    with _collector_paused():
        ctx = _lower.Context(project_dir=project_dir)
        project = _lower.lower(resources, ctx, _lower.project_name(project_dir))
        if isolation is not None:
            if target != targets.DEFAULT:
                raise ValueError(f"an isolated copy runs on Compose, not {target}")
            from . import _isolation

            project = _isolation.isolate(project, isolation)
        if target != targets.DEFAULT:
            _lower.refuse_one_shot_waits(project, target)
            _lower.refuse_restarts(project, target)
        base = Path(os.path.relpath(project_dir, path.parent)).as_posix()
        doc = emitter.document(project, base, project_dir)
        text = emitter.render(project, doc)
        if text != _on_disk(path):  # the same bytes were checked when they were written
            emitter.validate(doc)
        return project, text, path


def _on_disk(path: Path) -> str | None:
    """The text of the regular file at ``path``, or None (absent, unreadable, not UTF-8): what
    compile_project compares its output with. ``existing_text`` says why a file is unusable."""
    try:
        return path.read_bytes().decode("utf-8") if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the declarations compile: its full passes over a
    heap that grows with the project made 5,000 services cost more than 5x 1,000; what the
    compile leaves behind is collected when it ends. Not while main.py runs: a file it left
    open in a reference cycle would then be collected with its buffer in one pass, and
    CPython closes it unflushed."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def build(
    project_dir: Path,
    output: Path | None = None,
    environ: Mapping[str, str] | None = None,
    target: str = targets.DEFAULT,
    isolation: Isolation | None = None,
) -> Build:
    """Compile, then write .env (secrets, 0600) and the compose file, each atomically.

    Everything that can fail, on the user's declarations or on the files to write (a folder
    where a file belongs, text that is not UTF-8, a folder or file that is not writable), fails
    before any file is touched; unchanged bytes are not rewritten.

    ``environ``: where secrets come from besides .env (None: this process's environment).
    When it is this process's, the values derived from a secret the environment overrides
    are set there too (``_envfile.EnvFile.exports``): Compose and ``docker stack deploy``,
    which clockwork runs as child processes, read the environment before .env, so they see
    the values this run uses. ``isolation``: see ``compile_project``."""
    project, text, path = compile_project(project_dir, output, target, isolation)
    current = existing_text(path)
    may_write(path, current, project, project_dir)
    not_shadowed(path)
    if project.env_file:  # otherwise clockwork leaves .env alone
        existing_text(path.parent / _envfile.ENV_FILE)
    env = _envfile.plan(project, path.parent, environ)
    if current != text:
        writable(path)
    if env.changed:
        writable(env.path)
    if env.gitignore is not None:
        existing_text(env.gitignore)
        writable(env.gitignore)
    notes = _envfile.write(env)
    if env.changed:
        notes.insert(0, f"wrote {env.path.name} (mode 600) with {len(project.env_file) - len(env.missing)} variables")
    if current != text:
        write_atomic(path, text)
    if environ is None:
        os.environ.update(env.exports)
    findings = _lint_new_migrations(project, project_dir, current)
    engine_note = getattr(targets.emitter(target), "engine_note", None)  # the Docker targets'
    if engine_note is not None and (note := engine_note(project)):
        notes.append(note)
    return Build(project, text, path, current != text, _unset_secrets(project, env), (*env.notes, *notes), findings)


#: A sha256 as the plan writes it into the output: 64 hex digits that stand alone.
_DIGEST = r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])"


def _lint_new_migrations(project: Project, project_dir: Path, previous: str | None) -> tuple[str, ...]:
    """Lint findings in the migration files the previous output did not hold (by their
    sha256, which the plan writes into it): files added or edited since the last build.
    Build reads no database, so it cannot know what is applied; the file it replaces is
    the last thing built. The previous output is read once for the digests it holds (a
    test per file against the whole text made 5,000 services cost 6x 1,000)."""
    found: list[str] = []
    seen: set[str] = set()
    built = None if previous is None else set(re.findall(_DIGEST, previous))
    for target in project.databases:
        migrations = target.migrations
        if migrations is None or migrations.plan is None or target.service in seen:
            continue
        seen.add(target.service)
        new = [s for s in migrations.plan.steps if s.kind != "schema" and (built is None or s.sha256 not in built)]
        if new:
            from . import _lint

            found += [str(f) for f in _lint.lint_target(project_dir.resolve(), target, new)]
    return tuple(found)


def kubernetes_secret(project_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The Secret for ``--target kubernetes`` as YAML: see ``secrets``."""
    return secrets(project_dir, environ)[0]


def secrets(project_dir: Path, environ: Mapping[str, str] | None = None) -> tuple[str, tuple[str, ...]]:
    """The Secret for ``--target kubernetes`` as YAML (``clockwork secrets``, for ``kubectl
    apply -f -``), and one line per value taken from the environment rather than .env. It
    holds the project's .env variables, each value as .env holds it (``build`` writes them
    there), unless the environment overrides a secret, as for every other command (then the
    values derived from it follow). DeclarationError when one has no value."""
    from ._targets.kubernetes import emit as kubernetes

    project, _, path = compile_project(project_dir, target="kubernetes")
    existing_text(path.parent / _envfile.ENV_FILE)
    env = _envfile.plan(project, path.parent, environ)
    files = {name: (project_dir / f.file).read_bytes() for name, f in project.secrets.items()}
    return kubernetes.render_secret(project, env.values, files), env.notes


def existing_text(path: Path) -> str | None:
    """The text of a file clockwork reads and may replace; None when absent.

    Raises UnusableFile when it cannot be: a folder stands where the file belongs, a file
    where one of its folders belongs, or it is not UTF-8 text."""
    blocker = _nearest_existing(path)
    if blocker is not None and not blocker.is_dir():
        raise UnusableFile(path, f"cannot be created: {blocker} is a file, not a folder", "give a path in a folder")
    if path.is_dir():
        raise UnusableFile(path, "is a folder, not a file", "remove or rename that folder, or write elsewhere with -o")
    if path.exists() and not path.is_file():
        # Reading a FIFO waits for a writer; replacing /dev/null would replace the device.
        raise UnusableFile(
            path, f"is {_kind(path)}, not a regular file", "give a path to a file, or write elsewhere with -o"
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    except OSError as exc:
        raise UnusableFile(path, f"cannot be read ({exc.strerror})", "check its permissions") from None
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnusableFile(
            path, f"is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})", "save it as UTF-8, or move it away"
        ) from None


#: Files clockwork reads or keeps itself, next to the generated file: never a place for it.
_OWN_FILES = (_loader.MAIN, _envfile.ENV_FILE, _envfile.GITIGNORE)


def may_write(path: Path, current: str | None, project: Project, project_dir: Path) -> None:
    """Raise UnusableFile unless clockwork may write a generated file at ``path``, which now
    holds ``current`` (None: no file). Never over an input of the project (main.py, a schema
    or migration file), a file clockwork keeps itself (.env, .gitignore), nor over any file
    clockwork did not generate (it lacks the header every target writes first); an empty
    file holds nothing to lose."""
    path = path.resolve()
    project_dir = project_dir.resolve()
    what = _input_at(path, project, project_dir)
    fix = "give -o the path of the file to generate (e.g. -o docker-compose.yml), or move that file away first"
    if what is None and current and not current.startswith(targets.GENERATED):
        what = f"was not written by clockwork (it does not start with {targets.GENERATED.strip()!r})"
        fix = f"move it aside (git mv {path.name} {path.name}.orig), or give -o the path of the file to generate"
    if what is not None:
        raise UnusableFile(path, f"{what}, and clockwork never overwrites it", fix)


#: The files ``docker compose`` reads in a folder when given none, first found wins.
COMPOSE_LOOKUP = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def not_shadowed(path: Path) -> None:
    """Raise UnusableFile when ``docker compose`` in that folder would read another file
    before ``path`` (one of ``COMPOSE_LOOKUP``): the file clockwork writes would be ignored."""
    if path.name not in COMPOSE_LOOKUP:
        return
    for name in COMPOSE_LOOKUP[: COMPOSE_LOOKUP.index(path.name)]:
        other = path.parent / name
        if other.exists():
            raise UnusableFile(
                other,
                f"is what `docker compose` reads in {path.parent}, before the {path.name} clockwork writes",
                f"move it aside (git mv {name} {name}.orig), or write to another folder with -o",
            )


def _input_at(path: Path, project: Project, project_dir: Path) -> str | None:
    """What ``path`` is to the project when clockwork reads or keeps it, else None."""
    main = project_dir / _loader.MAIN
    if path == main or (path.exists() and main.exists() and os.path.samefile(path, main)):
        return "is the project's main.py"
    if path.name in _OWN_FILES:
        return f"is a {path.name} file"
    for database in project.databases:
        migrations = database.migrations
        if migrations is None:
            continue
        if migrations.schema_file and path == (project_dir / migrations.schema_file).resolve():
            return f"is the schema_file of {migrations.database}"
        if migrations.migrations_dir and path.is_relative_to((project_dir / migrations.migrations_dir).resolve()):
            return f"is in the migrations_dir of {migrations.database}, where every file is read as a migration"
    return None


def _kind(path: Path) -> str:
    import stat

    mode = path.stat().st_mode
    kinds = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
    return next((name for test, name in kinds if test(mode)), "a socket" if stat.S_ISSOCK(mode) else "special")


def writable(path: Path) -> None:
    """Raise UnusableFile unless ``path`` can be (re)written as clockwork writes: a new file
    in its folder, renamed over the old one. So the folder (or the nearest one to create it
    in) must be writable, and a file already there must not be read-only."""
    folder = _nearest_existing(path)
    if folder is not None and not os.access(folder, os.W_OK | os.X_OK):
        raise UnusableFile(
            path, f"cannot be written: {folder} is not writable", "make the folder writable, or write elsewhere with -o"
        )
    if path.is_file() and not os.access(path, os.W_OK):
        raise UnusableFile(path, "is read-only", f"make it writable (chmod u+w {path.name}), or remove it")


def _nearest_existing(path: Path) -> Path | None:
    return next((p for p in path.parents if p.exists()), None)


def _unset_secrets(project: Project, env: _envfile.EnvFile) -> tuple[str, ...]:
    names = {n for variable in env.missing for n in project.env_file[variable].secret_names}
    known = _envfile.parse(env.text)
    return tuple(sorted(n for n in names if not known.get(n)))


def check(project_dir: Path, output: Path | None = None, target: str = targets.DEFAULT) -> Build:
    """Raise CheckFailed with a short diff when the committed file is not current."""
    project, text, path = compile_project(project_dir, output, target)
    current = existing_text(path) or ""
    if current != text:
        raise CheckFailed(_short_diff(current, text, path, build_command(target, output)))
    return Build(project, text, path, False)


def build_command(target: str = targets.DEFAULT, output: Path | None = None) -> str:
    """The command that writes the file of ``target`` (``-o`` when it was given one)."""
    words = ["clockwork", "build"]
    if target != targets.DEFAULT:
        words += ["--target", target]
    if output is not None:
        import shlex  # only when a file is stale, as difflib

        words += ["-o", shlex.quote(str(output))]
    return " ".join(words)


def _short_diff(old: str, new: str, path: Path, command: str = "clockwork build", limit: int = 40) -> str:
    import difflib  # only when a file is stale: keeps it off the start-up path

    lines = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"{path.name} (committed)", f"{path.name} (from main.py)", lineterm=""
        )
    )
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"... {len(lines) - limit} more diff lines")
    head = f"{path} is stale: run `{command}` and commit the result" if old else f"{path} is missing: run `{command}`"
    return "\n".join([head, *shown])


@dataclass(frozen=True)
class Step:
    """One service in ``plan``'s deployment order: what it waits for and why."""

    service: str
    role: str
    waits_for: tuple[tuple[str, str, tuple[str, ...]], ...]  # (target, condition, reasons)
    note: str
    #: A migrator's plan: what runs, in order (first and last few when long), and what is skipped.
    details: tuple[str, ...] = ()
    #: An app with no readiness probe (nor healthcheck): apply can only see it running.
    no_probe: bool = False


def plan(project: Project) -> list[list[Step]]:
    """Deployment layers, and per service what it waits for and why."""
    graph = {name: sorted(s.depends_on) for name, s in project.services.items()}
    out = []
    for layer in _graph.layers(graph):
        steps = []
        for name in layer:
            service = project.services[name]
            waits = tuple(
                (dep.target, dep.condition.value, dep.reasons) for _, dep in sorted(service.depends_on.items())
            )
            no_probe = service.role.value == "app" and service.healthcheck is None
            steps.append(Step(name, service.role.value, waits, _note(project, name), _details(project, name), no_probe))
        out.append(steps)
    return out


def _note(project: Project, name: str) -> str:
    service = project.services[name]
    if service.role.value == "migrator":
        target = next(
            (d.migrations for d in project.databases if d.migrations and f"{d.service}-migrator" == name), None
        )
        if target:
            parts = []
            if target.schema_file:
                parts.append(target.schema_file)
            if target.migrations_dir:
                convention = f" {target.plan.convention}" if target.plan is not None else ""
                parts.append(f"{len(target.migration_files)}{convention} migrations from {target.migrations_dir}")
            return "applies " + ", then ".join(parts)
    return service.description


#: How many steps `plan` shows at each end of a long migration list.
SHOWN_STEPS = 5


def _details(project: Project, name: str) -> tuple[str, ...]:
    """A migrator's plan in lines: each step (version, how it runs), then the skipped files."""
    plan = next(
        (d.migrations.plan for d in project.databases if d.migrations and f"{d.service}-migrator" == name), None
    )
    if plan is None:
        return ()
    lines = [f"convention: {plan.convention}" + (f" (adopts {plan.adopt}'s history)" if plan.adopt else "")]
    modes = {"tx": "in a transaction", "own": "its own BEGIN/COMMIT", "none": "no transaction"}
    steps = [
        f"{i}. {s.path.split('/', 1)[1]}"
        + (f" as {s.version}" if s.version != s.path.rsplit("/", 1)[-1] else "")
        + (f" lines {s.lines[0]}-{s.lines[1]}" if s.lines else "")
        + f" ({s.kind}, {modes[s.tx]})"
        for i, s in enumerate(plan.steps, start=1)
    ]
    if len(steps) > 2 * SHOWN_STEPS + 1:
        steps = [*steps[:SHOWN_STEPS], f"... {len(steps) - 2 * SHOWN_STEPS} more", *steps[-SHOWN_STEPS:]]
    lines += [f"runs {line}" for line in steps]
    lines += [f"skips {s.path}: {s.reason}" for s in plan.skipped]
    return tuple(lines)
