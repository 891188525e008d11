"""`clockwork dev` on Compose: after apply, until Ctrl-C, file changes reach the running
stack. Compose does the syncs, restarts and rebuilds the file's ``develop.watch`` declares
(`docker compose watch`, a child process: the same rules work without clockwork); clockwork
polls the schema files and migrations folders and re-applies when one changes, so a new
migration is applied with every rule of apply (an edited applied one is refused as apply
refuses it). Nothing here prints: the CLI gets lines and events through callbacks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ... import _docker
from ..._model import Project

#: How often the migration inputs are looked at, in seconds.
POLL_SECONDS = 0.5

Fingerprint = dict[str, tuple[int, int]]


def watched(project: Project) -> bool:
    """Whether a service declares watch rules (`docker compose watch` refuses a file without)."""
    return any(s.options.watch for s in project.services.values())


def migration_inputs(project: Project, folder: Path) -> tuple[Path, ...]:
    """The schema files and migrations folders the project's migrators read, sorted."""
    sources = {m.source for s in project.services.values() if s.migrator for m in s.migrator.files}
    return tuple(sorted((folder / source).resolve() for source in sources))


def fingerprint(paths: Iterable[Path]) -> Fingerprint:
    """Each file under ``paths`` (a file or a folder, recursively) -> its mtime and size."""
    found: Fingerprint = {}
    for path in paths:
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            try:
                stat = file.stat()
            except OSError:  # removed while listed
                continue
            if not file.is_dir():
                found[str(file)] = (stat.st_mtime_ns, stat.st_size)
    return found


class MigrationWatch(threading.Thread):
    """Calls ``on_change`` (which re-applies) after a file under ``paths`` is added, changed or
    removed; a change made while ``on_change`` runs is seen on the next look."""

    def __init__(self, paths: tuple[Path, ...], on_change: Callable[[], None], poll: float = POLL_SECONDS) -> None:
        super().__init__(name="clockwork-dev-migrations", daemon=True)
        self.paths, self.on_change, self.poll = paths, on_change, poll
        self.stopped = threading.Event()
        self._seen = fingerprint(paths)

    def run(self) -> None:
        while not self.stopped.wait(self.poll):
            now = fingerprint(self.paths)
            if now != self._seen:
                self._seen = now
                self.on_change()

    def stop(self) -> None:
        self.stopped.set()


class Session:
    """What runs while `clockwork dev` watches: Compose's watch (when a service declares
    rules) and the migration watch; ``stop()`` ends both and leaves the stack running."""

    def __init__(
        self,
        project: Project,
        folder: Path,
        file: Path,
        reapply: Callable[[], None],
        on_watch_line: Callable[[str], None],
    ) -> None:
        self.compose: _docker.ComposeWatch | None = None
        if watched(project):
            self.compose = _docker.ComposeWatch(_docker.ComposeProject(project.name, folder, (file,)))
            threading.Thread(target=self._forward, args=(on_watch_line,), daemon=True).start()
        self.migrations = MigrationWatch(migration_inputs(project, folder), reapply)
        self.migrations.start()

    def _forward(self, on_line: Callable[[str], None]) -> None:
        assert self.compose is not None
        for line in self.compose.lines():
            if self.migrations.stopped.is_set():  # "canceled": what stopping it says
                return
            on_line(line)
        code = self.compose.exit_code()
        if code not in (None, 0) and not self.migrations.stopped.is_set():
            on_line(f"docker compose watch ended (exit code {code}): file changes are no longer applied")

    def stop(self) -> None:
        self.migrations.stop()
        if self.compose is not None:
            self.compose.stop()
