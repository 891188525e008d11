"""The Swarm target (``--target swarm``): ``emit`` writes docker-stack.yml from the model;
``runtime`` deploys it layer by layer, asserts and destroys it; ``observe`` lists its services
and reads their logs on every node (`clockwork ps`, `logs`). ``TARGET`` is what the CLI
dispatches to; the runtime is imported only when a command runs it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..._docker import LogOptions
    from ..base import ApplyOptions, ApplyReport, AssertReport, DestroyReport, LogStream, Needs, PsReport


class Swarm:
    name = "swarm"
    runs_elsewhere = ""
    stacks = True
    announces = False

    def refuse(self, options: ApplyOptions) -> str | None:
        if options.replace_data:
            return "--replace-data is for Compose: on Swarm a database's volume follows its service name"
        if options.adopt_data or options.adopt_from is not None:
            return "--adopt-data is for Compose: clockwork does not move a stack's data between folders"
        if options.snapshot:
            return "--snapshot is for Compose: clockwork does not dump a stack's databases"
        return None

    def apply(self, project_dir: Path, options: ApplyOptions, needs: Needs) -> ApplyReport:
        from . import runtime

        return runtime.apply(
            project_dir,
            needs,
            options.stack,
            options.timeout,
            on_progress=options.on_progress,
            registry=options.registry,
        )

    def check(self, project_dir: Path, timeout: float, needs: Needs, stack: str | None = None) -> AssertReport:
        from . import runtime

        assert needs.compile is not None
        return runtime.check(project_dir, needs.compile, stack, timeout)

    def destroy(self, project_dir: Path, keep_volumes: bool, stack: str | None = None) -> DestroyReport:
        from ... import _lower
        from . import runtime

        name = stack or _lower.project_name(project_dir)
        return runtime.destroy_report(name, runtime.destroy(name, project_dir.resolve(), keep_volumes), keep_volumes)

    def ps(self, project_dir: Path, stack: str | None = None) -> PsReport:
        from ... import _docker
        from . import observe

        return observe.ps(project_dir, stack, _docker.DOCKER)

    def logs(
        self, project_dir: Path, services: tuple[str, ...], options: LogOptions, stack: str | None = None
    ) -> LogStream:
        from ... import _docker
        from . import observe

        return observe.logs(project_dir, services, options, stack, _docker.DOCKER)


TARGET = Swarm()
