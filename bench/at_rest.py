"""At rest and at scale: what a running stack costs the machine, and apply at 80 services.

1. CPU at rest, as percent of one core: the non-idle jiffies of the whole machine in
   /proc/stat once the stack has settled (SETTLE seconds after it was ready), for the
   example and for 80 services (``_many``), next to the same reading of the machine before
   anything was started (nothing is subtracted: the machine is shared). Healthchecks are
   most of it: each one is a process the engine starts in a container. A stack's reading
   lasts a whole number of its longest healthcheck interval, at least SAMPLE seconds: the
   services got ready within seconds of each other, so their checks come in bursts one
   interval apart, and a shorter window could fall between two bursts.
2. Apply of 80 services (a first apply, from nothing) against ``docker compose up -d
   --wait`` of the file clockwork wrote, and a re-apply with nothing changed (median of
   REAPPLIES; goal under 3 s).
3. The example's time to ready (a first apply until every service is ready): the
   measurement of ``ready`` (its ``Stack``), on a copy of the example of our own.

Everything it makes is named after its folders, ``<prefix>-example`` and ``<prefix>-many``
(``CLOCKWORK_BENCH_PREFIX``, default ``at-rest``): containers, volumes, the networks
(neither project joins the shared ``app_network``) and the two image tags the example's
copy runs (its build: services, tagged from the images scripts/build-test-images.sh made).
The example's copy publishes its ports on 127.0.0.1, on free ports, so that it runs next
to another copy of the example. Everything is removed afterwards, even on error.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import statistics
import time
from pathlib import Path

import yaml

from clockwork_compose._import import _seconds

from . import ready
from ._many import APP_IMAGE, REDIS_IMAGE, generate
from ._proc import BenchError, clockwork, docker_engine_available, run
from ._report import Row, skipped
from ._settings import EXAMPLE, Settings

NAME = "at rest"
PREFIX = os.environ.get("CLOCKWORK_BENCH_PREFIX", "at-rest")
#: Seconds of /proc/stat per CPU reading, and seconds to wait after ready before one.
SAMPLE = 30.0
SETTLE = 10.0
#: Goals (issue 21): points of one core over the idle machine, for the example and 80 services.
EXAMPLE_POINTS = 3.0
MANY_POINTS = 15.0
REAPPLIES = 3
TIMEOUT = 600
#: The example's services built from a Dockerfile, and the images those builds made here.
BUILT = {"api-server": "connected-services-api-server", "worker-service": "connected-services-worker-service"}
#: Rest intervals (seconds between healthchecks once ready) at which to measure the 80
#: services at rest again, e.g. ``CLOCKWORK_BENCH_REST_SWEEP=60,90,120``: the data for
#: choosing the default (``ProjectSettings(health_interval=)``). None by default.
REST_SWEEP = tuple(float(s) for s in os.environ.get("CLOCKWORK_BENCH_REST_SWEEP", "").split(",") if s.strip())


def run_benchmark(settings: Settings) -> list[Row]:
    images = (APP_IMAGE, REDIS_IMAGE, "postgres:15-alpine", *BUILT.values())
    why_not = docker_engine_available() or _missing(images)
    if why_not:
        return [skipped(NAME, "CPU at rest", why_not)]
    idle = cpu_percent(SAMPLE)
    rows = [Row(NAME, f"CPU at rest: the machine before ({SAMPLE:g} s)", idle, unit="% of a core")]
    rows += _example(settings, idle)
    rows += _many(settings, idle)
    rows += [_many_resting(settings, idle, seconds) for seconds in REST_SWEEP]
    return rows


def _example(settings: Settings, idle: float) -> list[Row]:
    project = example_copy(settings.scratch / "at-rest" / f"{PREFIX}-example")
    tags = [f"{project.name}-{service}" for service in BUILT]
    for service, tag in zip(BUILT, tags, strict=True):
        run(["docker", "image", "tag", BUILT[service], tag])
    try:
        run(clockwork("build", "-C", str(project)))
        stack = ready.Stack(project, project / "docker-compose.yml")
        try:
            first = _until_ready(stack, clockwork("apply", "-C", str(project)))
            at_rest = _settled_cpu(stack.compose_file)
        finally:
            stack.down()
    finally:
        run(["docker", "image", "rm", *tags], check=False)
    return [
        Row(
            NAME,
            "example: time to ready (first apply)",
            first,
            note="the first row of `time to ready` (ready.Stack), on a copy with Compose's container names",
        ),
        _at_rest_row("CPU at rest: the example", at_rest, idle, EXAMPLE_POINTS),
    ]


def _many(settings: Settings, idle: float) -> list[Row]:
    project = generate(settings.scratch / "at-rest" / f"{PREFIX}-many")
    compose_file = project / "docker-compose.yml"
    run(clockwork("build", "-C", str(project)))
    stack = ready.Stack(project, compose_file)
    apply = clockwork("apply", "-C", str(project))
    try:
        stack.down()
        first = _until_ready(stack, apply)
        again = [_until_ready(stack, apply) for _ in range(REAPPLIES)]
        at_rest = _settled_cpu(compose_file)
        stack.down()
        compose = _until_ready(stack, ["docker", "compose", "-f", str(compose_file), "up", "-d", "--wait"])
    finally:
        stack.down()
    services = len(stack.services)
    reapply = statistics.median(again)
    return [
        Row(
            NAME,
            f"apply {services} services vs docker compose up -d --wait (same file)",
            first,
            compose,
            goal="<= 1.25x",
            met=first <= 1.25 * compose,
            note="one run each, from nothing (volumes removed)",
        ),
        Row(
            NAME,
            f"re-apply {services} services, nothing changed",
            reapply,
            goal="< 3 s",
            met=reapply < 3,
            note=f"median of {REAPPLIES} (whole process)",
            samples={"clockwork": again},
        ),
        _at_rest_row(f"CPU at rest: {services} services", at_rest, idle, MANY_POINTS),
    ]


def _many_resting(settings: Settings, idle: float, seconds: float) -> Row:
    """The 80 services at rest with ``ProjectSettings(health_interval=seconds)``."""
    project = generate(settings.scratch / "at-rest" / f"{PREFIX}-rest{seconds:g}", health_interval=seconds)
    run(clockwork("build", "-C", str(project)))
    stack = ready.Stack(project, project / "docker-compose.yml")
    try:
        stack.down()
        _until_ready(stack, clockwork("apply", "-C", str(project)))
        at_rest = _settled_cpu(stack.compose_file)
    finally:
        stack.down()
    measurement = f"CPU at rest: {len(stack.services)} services, healthchecks every {seconds:g} s once ready"
    return _at_rest_row(measurement, at_rest, idle)


def _until_ready(stack: ready.Stack, argv: list[str]) -> float:
    """Seconds from starting ``argv`` until every service of ``stack`` is ready."""
    start = time.perf_counter()
    run(argv, cwd=stack.project, timeout=TIMEOUT)
    stack.wait_ready(start + TIMEOUT)
    return time.perf_counter() - start


def _settled_cpu(compose_file: Path) -> float:
    time.sleep(SETTLE)
    return cpu_percent(sample_seconds(compose_file))


def sample_seconds(compose_file: Path) -> float:
    """How long to read a stack's CPU: a whole number of its longest healthcheck interval
    (what each service waits between checks once ready), at least SAMPLE seconds."""
    services = yaml.safe_load(compose_file.read_text(encoding="utf-8"))["services"]
    intervals = [_seconds(s["healthcheck"].get("interval", "30s")) for s in services.values() if "healthcheck" in s]
    longest = max(intervals, default=SAMPLE)
    return longest * math.ceil(SAMPLE / longest)


def _at_rest_row(measurement: str, at_rest: float, idle: float, points: float | None = None) -> Row:
    """A stack's CPU at rest next to the idle machine's; goal: at most ``points`` over it."""
    goal = "" if points is None else f"<= idle + {points:g}"
    met = None if points is None else at_rest - idle <= points
    return Row(NAME, measurement, at_rest, idle, unit="% of a core", goal=goal, met=met, note=_vs_idle())


def _vs_idle() -> str:
    return (
        f"yardstick: the machine before anything started ({SAMPLE:g} s); /proc/stat over a whole number "
        f"of the longest healthcheck interval, at least {SAMPLE:g} s, {SETTLE:g} s after ready"
    )


def cpu_percent(seconds: float) -> float:
    """The whole machine's non-idle CPU time over ``seconds``, in percent of one core."""
    before = _busy_jiffies()
    start = time.perf_counter()
    time.sleep(seconds)
    busy = _busy_jiffies() - before
    elapsed = time.perf_counter() - start
    return round(100 * busy / os.sysconf("SC_CLK_TCK") / elapsed, 1)


def _busy_jiffies() -> int:
    """user + nice + system + irq + softirq + steal of every CPU (guest time is in user)."""
    fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return user + nice + system + irq + softirq + steal


def example_copy(target: Path) -> Path:
    """The example in ``target``, with Compose's container names, no shared network, and its
    host ports on 127.0.0.1, on ports free now."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("docker-compose.yml", "__pycache__", ".*"))
    main = target / "main.py"
    text = main.read_text(encoding="utf-8")
    text = re.sub(r'ports=\["(\d+):(\d+)"\]', lambda m: f'ports=["127.0.0.1:{_free_port()}:{m[2]}"]', text)
    text = text.replace(
        "from clockwork_compose import DatabaseConnection, DockerResource, HttpProbe",
        "from clockwork_compose import DatabaseConnection, DockerResource, HttpProbe, ProjectSettings\n\n"
        'ProjectSettings(container_names="compose", shared_network=False)',
    )
    if "ProjectSettings(" not in text or "127.0.0.1:" not in text:
        raise BenchError("the example's main.py changed: bench/at_rest.py no longer knows how to copy it")
    main.write_text(text, encoding="utf-8")
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(images: tuple[str, ...]) -> str | None:
    missing = [i for i in images if run(["docker", "image", "inspect", i], check=False).returncode != 0]
    return f"images missing: {', '.join(missing)} (run scripts/build-test-images.sh)" if missing else None
