"""The project's .env: where secret values, and values derived from them, live.

The committed compose file only refers to ``${VARIABLE}``; Compose resolves those from the
.env next to it. Clockwork owns the variables ``Project.env_file`` names and nothing else:
every other line a user put in .env is kept as it was. A variable whose secret has no value
(neither in the environment nor already in .env) is left as it was too; ``require`` is the
check ``apply`` makes that everything has a value.

Precedence, the same for every command (build, apply, assert, Swarm's deploy, the
Kubernetes Secret) and the one Compose itself has: a secret set in the environment wins
over .env for the run. .env keeps the value it holds, though (it may be the only record of
the password a data volume was created with): the environment's value is written there only
while .env has none. A run that uses another value than .env's says so in one line
(``EnvFile.notes``, never the value), and the values derived from it (URLs) are computed
from the value the run uses; ``EnvFile.exports`` are those Compose would otherwise read from
.env, for the environment of the processes clockwork starts.

The file is written through a temporary file created 0600, then renamed, so a secret never
sits in a file others can read, not even half-written. Values are double-quoted with
``\\``, ``"``, ``$`` and control characters escaped: Compose's dotenv parser reads them back
as exactly the same string and never interpolates them.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import DeclarationError
from ._model import EnvEntry, Project, SecretPart, SecretRef

ENV_FILE = ".env"
GITIGNORE = ".gitignore"
MODE = 0o600
HEADER = "# Written by clockwork build: secret values and values derived from them. Keep out of git."
#: A UTF-8 byte order mark, as some editors start a file with.
BOM = "\ufeff"

_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(?P<rest>.*)$")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$", "'": "'"}


@dataclass(frozen=True)
class EnvFile:
    """What syncing .env did, or would do: the new text, and what to tell the user."""

    path: Path
    text: str
    changed: bool
    #: Variables clockwork manages that still have no value (their secrets are unset).
    missing: tuple[str, ...]
    #: The .gitignore to append ``.env`` to, when .env is not ignored yet.
    gitignore: Path | None
    #: Whether the project has secrets at all; without them clockwork leaves .env alone.
    managed: bool
    #: The value of every variable ``Project.env_file`` names that this run uses (with a
    #: secret the environment sets), where there is one.
    values: Mapping[str, str] = field(default_factory=dict)
    #: The values this run uses that Compose would not read from .env and the environment
    #: (values derived from a secret the environment overrides): for a child's environment.
    exports: Mapping[str, str] = field(default_factory=dict)
    #: One line per value the run takes from elsewhere than .env (never the value).
    notes: tuple[str, ...] = ()


# -- reading ---------------------------------------------------------------------------------


def parse(text: str) -> dict[str, str]:
    """The variables of a .env, read as Compose reads the lines clockwork and users write."""
    values: dict[str, str] = {}
    text = text.removeprefix(BOM)  # an editor's byte order mark is not part of the first name
    # Only \n ends a line: str.splitlines() would also split on \x1c-\x1e, \x85 and U+2028.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    i = 0
    while i < len(lines):
        match = _LINE.match(lines[i])
        i += 1
        if match is None or lines[i - 1].lstrip().startswith("#"):
            continue
        rest = match["rest"]
        if rest[:1] in ("'", '"'):
            # A quoted value may span lines: read on until its closing quote.
            while _closing_quote(rest) is None and i < len(lines):
                rest += "\n" + lines[i]
                i += 1
            values[match["key"]] = _quoted(rest)
        else:
            values[match["key"]] = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
    return values


def _closing_quote(rest: str) -> int | None:
    quote, j = rest[0], 1
    while j < len(rest):
        if rest[j] == "\\":
            j += 2
            continue
        if rest[j] == quote:
            return j
        j += 1
    return None


def _quoted(rest: str) -> str:
    end = _closing_quote(rest)
    body = rest[1:end] if end is not None else rest[1:]
    if rest[0] == "'":
        return body.replace("\\'", "'")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), body, flags=re.S)


def quote(value: str) -> str:
    """``value`` as a double-quoted .env value that Compose reads back unchanged."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def secret_values(project: Project, existing: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Each secret's value for a run: from the environment first, else from .env (as Compose
    reads them). An empty value counts as none: Compose's ``${VAR:?}`` refuses it too."""
    names = {name for entry in project.env_file.values() for name in entry.secret_names}
    values = {}
    for name in sorted(names):
        value = environ.get(name) or existing.get(name)
        if value:
            values[name] = value
    return values


def _environment_notes(
    project: Project, kept: Mapping[str, str], run: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[str, ...]:
    """One line per secret the environment overrides, and per derived variable it sets."""
    notes = [
        f"{name} in the environment differs from the value .env keeps: this run uses the environment's, as "
        f"Compose does, and .env keeps its own (unset {name} to use it, or edit .env to change it)"
        for name in sorted(kept)
        if run.get(name, kept[name]) != kept[name]
    ]
    notes += [
        f"{name} is set but empty in the environment: this run uses the value .env keeps (an empty value counts "
        "as none) and hands it to Compose"
        for name in sorted(kept)
        if environ.get(name) == ""
    ]
    for variable, entry in sorted(project.env_file.items()):
        derived = entry.resolve(run)
        if entry.parts != (SecretPart(variable),) and environ.get(variable) and environ[variable] != derived:
            notes.append(
                f"{variable} in the environment is not used: clockwork derives it from "
                f"{', '.join(entry.secret_names)}, and this run passes the derived value to Compose"
            )
    return tuple(notes)


def run_values(folder: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values a run reads, as clockwork reads them: ``folder``'s .env, overridden by the
    environment where it sets a value (an empty one counts as none, as for secrets)."""
    env_file = folder / ENV_FILE
    values = parse(env_file.read_text(encoding="utf-8")) if env_file.is_file() else {}
    return {**values, **{k: v for k, v in (os.environ if environ is None else environ).items() if v}}


# -- planning and writing ----------------------------------------------------------------------


def plan(project: Project, folder: Path, environ: Mapping[str, str] | None = None) -> EnvFile:
    """What .env in ``folder`` must become for ``project``; reads, never writes."""
    link = folder / ENV_FILE
    if not project.env_file:
        return EnvFile(link, "", False, (), None, False)
    path = _followed(link)
    _refuse_tracked(path)
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    existing = parse(current)
    environ = os.environ if environ is None else environ
    kept = secret_values(project, existing, {})
    run = secret_values(project, existing, environ)
    recorded = {**run, **kept}  # .env's own; the environment's only where .env has none yet
    wanted: dict[str, str] = {}
    missing = []
    for variable, entry in sorted(project.env_file.items()):
        value = entry.resolve(recorded)
        if value is None:
            missing.append(variable)
        else:
            wanted[variable] = value
    text = _merge(current, wanted)
    gitignore = None if is_ignored(link) else folder / GITIGNORE
    values = {v: value for v, entry in project.env_file.items() if (value := entry.resolve(run)) is not None}
    seen = {**parse(text), **environ}  # what Compose reads: .env, overridden by the environment
    exports = {v: value for v, value in sorted(values.items()) if seen.get(v) != value}
    notes = _environment_notes(project, kept, run, environ)
    return EnvFile(path, text, text != current, tuple(missing), gitignore, True, values, exports, notes)


def _merge(current: str, wanted: Mapping[str, str]) -> str:
    """``current`` with each wanted variable set in place, or appended; other lines untouched
    (a byte order mark too)."""
    if current.startswith(BOM):
        return BOM + _merge(current.removeprefix(BOM), wanted)
    lines = current.split("\n")
    if lines[-1] == "":
        lines.pop()
    out: list[str] = []
    done: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _LINE.match(line)
        i += 1
        if match is None or line.lstrip().startswith("#"):
            out.append(line)
            continue
        rest = match["rest"]
        span = [line]
        if rest[:1] in ("'", '"'):
            while _closing_quote(rest) is None and i < len(lines):
                rest += "\n" + lines[i]
                span.append(lines[i])
                i += 1
        key = match["key"]
        if key in wanted and key not in done:
            if parse("\n".join(span)).get(key) == wanted[key]:
                out.extend(span)  # a value as it was keeps its bytes too
            else:
                out.append(f"{key}={quote(wanted[key])}")
            done.add(key)
        elif key not in wanted:
            out.extend(span)
    new = [key for key in wanted if key not in done]
    if new:
        if out and out[-1].strip():
            out.append("")
        if HEADER not in out:
            out.append(HEADER)
        out.extend(f"{key}={quote(wanted[key])}" for key in new)
    return "\n".join(out) + "\n" if out else ""


def write(env: EnvFile) -> list[str]:
    """Carry out a plan: .env rewritten atomically at mode 0600, .gitignore completed.

    Returns what the user should be told."""
    notes: list[str] = []
    if not env.managed:
        return notes
    if env.changed:
        write_atomic(env.path, env.text, MODE)
    elif env.path.is_file() and env.path.stat().st_mode & 0o077:
        os.chmod(env.path, MODE)
    if env.gitignore is not None:
        before = env.gitignore.read_text(encoding="utf-8") if env.gitignore.is_file() else ""
        separator = "" if not before or before.endswith("\n") else "\n"
        write_atomic(env.gitignore, f"{before}{separator}{ENV_FILE}\n", _mode_of(env.gitignore, 0o644))
        notes.append(f"added {ENV_FILE} to {env.gitignore} so that secrets stay out of git")
    return notes


def sync(project: Project, folder: Path, environ: Mapping[str, str] | None = None) -> tuple[EnvFile, list[str]]:
    """Plan and write .env for ``project`` in ``folder``: what ``build`` and ``apply`` do."""
    env = plan(project, folder, environ)
    return env, write(env)


def require(project: Project, folder: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """At apply time: sync .env, then raise DeclarationError naming a secret that has no value.

    ``folder`` holds the compose file (and so .env). Returns the notes ``write`` gives."""
    env, notes = sync(project, folder, environ)
    if env.missing:
        # Name the secret where it is declared, rather than a URL derived from it.
        first = min(env.missing, key=lambda v: (project.env_file[v].secret_names != (v,), v))
        raise missing_error(project, first, env, os.environ if environ is None else environ)
    return notes


def missing_error(project: Project, variable: str, env: EnvFile, environ: Mapping[str, str]) -> DeclarationError:
    """The error for a .env variable without a value: the resource and field that need it."""
    entry: EnvEntry = project.env_file[variable]
    existing = parse(env.text)
    unset = [name for name in entry.secret_names if not (environ.get(name) or existing.get(name))]
    secret = unset[0] if unset else variable
    resource, field = _user_of(project, variable)
    return DeclarationError(
        resource,
        field,
        f"Secret({secret!r}) has no value",
        f"export {secret}=... before running clockwork, or add {secret}=... to {env.path}",
    )


def _user_of(project: Project, variable: str) -> tuple[str | None, str | None]:
    for service in project.ordered():
        for key, value in sorted(service.environment.items()):
            if isinstance(value, SecretRef) and value.variable == variable:
                return service.name, f"env_vars.{key}"
    return None, None


# -- where secrets may go ---------------------------------------------------------------------


def _followed(path: Path) -> Path:
    """``path``, or the file it links to: a symlinked .env (e.g. to a shared secrets file)
    is written through, never replaced by a regular file. A link to nothing is an error."""
    if not path.is_symlink():
        return path
    target = path.resolve()
    if not target.is_file():
        raise DeclarationError(
            None,
            None,
            f"{path} is a symlink to {target}, which is not a file",
            "point it at an existing file, or remove the link and let clockwork build create .env",
        )
    return target


def _refuse_tracked(path: Path) -> None:
    """DeclarationError when git tracks ``path``: secrets written into it would be committed.

    One `git ls-files` call; no git, or no repository, means not tracked."""
    import subprocess  # here: a build that writes no .env starts without it

    try:
        done = subprocess.run(
            ["git", "-C", str(path.parent), "ls-files", "--error-unmatch", "--", path.name],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return
    if done.returncode == 0:
        where = "" if path.parent == Path.cwd() else f"-C {path.parent} "
        raise DeclarationError(
            None,
            None,
            f"{path} is tracked by git, so the secret values clockwork writes into it would be committed",
            f"untrack it with `git {where}rm --cached {path.name}` (the file stays), commit that, "
            "then run clockwork build again",
        )


# -- files ------------------------------------------------------------------------------------


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write via a temporary file in the same folder and rename: all or nothing.

    The temporary file is created 0600 (mkstemp), so no reader sees a secret before chmod."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_of(path: Path, default: int) -> int:
    return path.stat().st_mode & 0o777 if path.exists() else default


def is_ignored(path: Path) -> bool:
    """Whether git would ignore ``path``, judged from the .gitignore files above it.

    Reads the files itself (no git process): the patterns clockwork and users write for .env
    (``.env``, ``/.env``, ``*.env``, ``.env*``, ``**/.env``, negations) are understood."""
    ignored = False
    for folder in reversed(_folders_up_to_repository(path.parent)):
        gitignore = folder / GITIGNORE
        if not gitignore.is_file():
            continue
        relative = path.relative_to(folder).as_posix()
        for raw in gitignore.read_text(encoding="utf-8", errors="replace").splitlines():
            pattern = raw.strip()
            if not pattern or pattern.startswith("#") or pattern.endswith("/"):
                continue
            negated = pattern.startswith("!")
            pattern = pattern.lstrip("!")
            if _matches(pattern, relative):
                ignored = not negated
    return ignored


def _folders_up_to_repository(start: Path) -> list[Path]:
    folders = []
    for folder in [start, *start.parents]:
        folders.append(folder)
        if (folder / ".git").exists():
            break
    return folders


def _matches(pattern: str, relative: str) -> bool:
    if pattern.startswith("**/"):
        pattern = pattern[3:]
        return fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], pattern) or fnmatch.fnmatchcase(relative, pattern)
    if "/" in pattern.rstrip("/"):
        return fnmatch.fnmatchcase(relative, pattern.lstrip("/"))
    return fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], pattern)
