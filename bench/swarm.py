"""Ordered ``clockwork apply --target swarm`` against a plain ``docker stack deploy``.

Same docker-stack.yml, same run, on a single-node swarm this benchmark creates (and always
leaves again, removing docker_gwbridge when it created it). Skipped when the engine is
already in a swarm (never take over someone else's). The example's copy publishes ports
16032, 16079 and 16080 (not the example's, which other runs use). Time to ready:

- clockwork: the whole ``clockwork apply --target swarm`` process (databases healthy, then
  the migrator completed, then the apps, each layer watched);
- yardstick: ``docker stack deploy --detach=true`` of the whole file, then polling until
  every service runs its replicas (healthy where it has a healthcheck) and the job completed;
  the order is then the restart policies' (the app may start before the migration is done).

Each run starts from nothing (``clockwork destroy --target swarm`` between runs; the plain
stack, which clockwork did not make, by ``swarm_runtime.remove``).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

from ._proc import BenchError, clockwork, docker_engine_available, run
from ._report import Row, skipped
from ._settings import Settings

NAME = "swarm"
MEASUREMENT = "ordered apply --target swarm vs plain docker stack deploy (until converged)"
GOAL = "<= 1.5x the unordered time"
PORTS = {"5432:5432": "16032:5432", "6379:6379": "16079:6379", "8000:80": "16080:80"}
ORDERED, PLAIN = "swm-bench-ordered", "swm-bench-plain"
CONVERGE_TIMEOUT = 180.0


def run_benchmark(settings: Settings) -> list[Row]:
    why_not = docker_engine_available()
    if why_not:
        return [skipped(NAME, MEASUREMENT, why_not, GOAL)]
    state = run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"]).stdout.strip()
    if state != "inactive":
        return [skipped(NAME, MEASUREMENT, f"the engine is already in a swarm ({state})", GOAL)]
    project = settings.copy_example("swarm")
    main = (project / "main.py").read_text()
    for old, new in PORTS.items():
        main = main.replace(f'"{old}"', f'"{new}"')
    (project / "main.py").write_text(main)
    run(clockwork("build", "--target", "swarm", "-C", str(project)))
    had_bridge = run(["docker", "network", "inspect", "docker_gwbridge"], check=False).returncode == 0
    run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377"])
    try:
        return _measure(settings, project)
    finally:
        from clockwork_compose._targets.swarm import runtime as swarm_runtime

        for stack in (ORDERED, PLAIN):
            with contextlib.suppress(Exception):  # leave the swarm whatever happens
                swarm_runtime.remove(stack)
        run(["docker", "swarm", "leave", "--force"], check=False)
        if not had_bridge:
            run(["docker", "network", "rm", "docker_gwbridge"], check=False)


def _measure(settings: Settings, project) -> list[Row]:  # noqa: ANN001 (a Path)
    reps = 1 if settings.quick else 3
    ordered, plain = [], []
    for _ in range(reps):
        ordered.append(run(clockwork("apply", "--target", "swarm", "--stack", ORDERED, "-C", str(project))).seconds)
        run(clockwork("destroy", "--target", "swarm", "--stack", ORDERED, "-C", str(project)))
        plain.append(_plain_deploy(project))
        _remove_plain()  # clockwork did not make it: its destroy refuses it
    ours, theirs = statistics.median(ordered), statistics.median(plain)
    settings.extra["swarm apply one node"] = ours  # the swarm-lab benchmark compares with it
    return [
        Row(
            NAME,
            MEASUREMENT,
            ours,
            theirs,
            goal=GOAL,
            met=ours <= 1.5 * theirs,
            note=f"median of {reps}, fresh stack each run; the plain deploy gives no order",
            samples={"clockwork": ordered, "yardstick": plain},
        )
    ]


def _remove_plain() -> None:
    from clockwork_compose._targets.swarm import runtime as swarm_runtime

    swarm_runtime.remove(PLAIN)


def _plain_deploy(project) -> float:  # noqa: ANN001 (a Path)
    """``docker stack deploy`` as a user runs it, then the time until every service converged."""
    from clockwork_compose import _api
    from clockwork_compose._targets.swarm import runtime as swarm_runtime

    model, _, _ = _api.compile_project(project, None, "swarm")
    start = time.perf_counter()
    run(
        ["docker", "stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", "docker-stack.yml", PLAIN],
        cwd=project,
        env=dict(os.environ),
    )
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while time.monotonic() < deadline:
        services = swarm_runtime.stack_services(PLAIN)
        if len(services) == len(model.services) and all(
            swarm_runtime.state(model.services[name], inspected, None).ready for name, inspected in services.items()
        ):
            return time.perf_counter() - start
        time.sleep(0.2)
    raise BenchError(f"a plain docker stack deploy did not converge in {CONVERGE_TIMEOUT:.0f} s")
