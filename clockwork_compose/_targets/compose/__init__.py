"""The Compose target (the default): ``emit`` writes docker-compose.yml from the model;
``runtime`` applies, asserts and destroys it through ``docker compose`` and the engine door
(``_docker``); ``observe`` lists its services and reads their logs (`clockwork ps`, `logs`).
``TARGET`` is what the CLI dispatches to; the runtime is imported only when a command runs
it, never by ``clockwork build``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..._docker import LogOptions
    from ..base import ApplyOptions, ApplyReport, AssertReport, DestroyReport, LogStream, Needs, PsReport


class Compose:
    name = "compose"
    runs_elsewhere = ""
    stacks = False
    announces = True

    def refuse(self, options: ApplyOptions) -> str | None:
        if options.registry:
            return "--registry is for --target swarm: Compose runs the images this engine has"
        return None

    def apply(self, project_dir: Path, options: ApplyOptions, needs: Needs) -> ApplyReport:
        from . import runtime

        return runtime.apply(
            project_dir,
            needs,
            options.timeout,
            on_progress=options.on_progress,
            replace_data=options.replace_data,
            adopt_data=options.adopt_data,
            adopt_from=options.adopt_from,
            snapshot=options.snapshot,
        )

    def check(self, project_dir: Path, timeout: float, needs: Needs, stack: str | None = None) -> AssertReport:
        from . import runtime

        assert needs.compile is not None
        return runtime.check(project_dir, needs.compile, timeout)

    def destroy(self, project_dir: Path, keep_volumes: bool, stack: str | None = None) -> DestroyReport:
        from . import runtime

        return runtime.destroy(project_dir, keep_volumes)

    def ps(self, project_dir: Path, stack: str | None = None) -> PsReport:
        from ... import _docker
        from . import observe

        return observe.ps(project_dir, _docker.DOCKER)

    def logs(
        self, project_dir: Path, services: tuple[str, ...], options: LogOptions, stack: str | None = None
    ) -> LogStream:
        from ... import _docker
        from . import observe

        return observe.logs(project_dir, services, options, _docker.DOCKER)


TARGET = Compose()
