"""3. Time to ready: ``clockwork apply`` until every service is healthy, on the example.

Against (a) ``docker compose up -d --wait`` on the very file clockwork wrote (so the
difference is clockwork's own overhead) and (b) the same file with Compose's default
healthcheck timing (interval and timeout 30 s, 3 retries: what a hand-written file gets).
Plus a warm re-apply with nothing changed. Every run starts from nothing (volumes removed)
and is torn down afterwards, even on error. The example publishes host ports 5432, 6379 and
8000 and names its containers, so a run waits for them to be free and never touches
containers it did not start.
"""

from __future__ import annotations

import json
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from ._proc import BenchError, clockwork, docker_engine_available, run
from ._report import Row, skipped
from ._settings import Settings

NAME = "time to ready"
HOST_PORTS = (5432, 6379, 8000)
IMAGES = ("postgres:15-alpine", "redis:7-alpine", "connected-services-api-server", "connected-services-worker-service")
BUSY_WAIT = 120  # seconds to wait for another run (a test, a colleague) to free the ports
READY_TIMEOUT = 180
DEFAULT_TIMING_FILE = "docker-compose.default-timing.yml"


def run_benchmark(settings: Settings) -> list[Row]:
    goal_a = ("apply vs docker compose up -d --wait (same file)", "overhead < 10% or < 0.5 s")
    why_not = docker_engine_available() or _no_apply() or _missing_images()
    if why_not:
        return [skipped(NAME, goal_a[0], why_not, goal_a[1])]
    project = settings.copy_example("ready")
    compose_file = project / "docker-compose.yml"
    run(clockwork("build", "-C", str(project)))
    default_file = write_default_timing(compose_file)
    stack = Stack(project, compose_file)
    busy = stack.wait_until_free(BUSY_WAIT)
    if busy:
        return [skipped(NAME, goal_a[0], f"still busy after {BUSY_WAIT} s: {busy}", goal_a[1])]

    reps = 1 if settings.quick else 3
    cold, warm, compose = [], [], []
    stack.down()
    for _ in range(reps):
        cold.append(stack.timed(clockwork("apply", "-C", str(project)), after=lambda: warm.append(stack.reapply())))
        compose.append(stack.timed(["docker", "compose", "-f", str(compose_file), "up", "-d", "--wait"]))
    default = None
    if not settings.quick:
        default = stack.timed(["docker", "compose", "-f", str(default_file), "up", "-d", "--wait"], file=default_file)

    ours, theirs, again = statistics.median(cold), statistics.median(compose), statistics.median(warm)
    rows = [
        Row(
            NAME,
            goal_a[0],
            ours,
            theirs,
            goal=goal_a[1],
            met=ours - theirs < 0.5 or ours / theirs < 1.1,
            note=f"overhead {ours - theirs:+.2f} s; median of {reps}, fresh volumes each run",
            samples={"clockwork": cold, "yardstick": compose},
        )
    ]
    measurement = "apply vs Compose default healthcheck timing (30 s interval)"
    if default is None:
        rows.append(skipped(NAME, measurement, "--quick skips the 30 s run", ">= 5x faster"))
    else:
        rows.append(
            Row(
                NAME,
                measurement,
                ours,
                default,
                ratio=default / ours,
                goal=">= 5x faster",
                met=default / ours >= 5,
                note="ratio = default timing / clockwork (higher is better); the default file is the generated "
                "one with healthcheck interval/timeout/retries removed",
            )
        )
    if stack.destroy_problems:
        settings.extra["ready_destroy_problems"] = stack.destroy_problems
        rows[0].note += f"; `clockwork destroy` left something {len(stack.destroy_problems)} time(s): see JSON"
    rows.append(
        Row(NAME, "warm re-apply, nothing changed", again, goal="< 3 s", met=again < 3, samples={"clockwork": warm})
    )
    return rows


def write_default_timing(compose_file: Path) -> Path:
    """The generated file with Compose's default healthcheck timing, as a hand-written file has it."""
    document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    for service in document["services"].values():
        for key in ("interval", "timeout", "retries", "start_period", "start_interval"):
            service.get("healthcheck", {}).pop(key, None)
    target = compose_file.with_name(DEFAULT_TIMING_FILE)
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


class Stack:
    """The example's Compose project: start it, see it ready, always tear it down."""

    def __init__(self, project: Path, compose_file: Path) -> None:
        self.project = project
        self.compose_file = compose_file
        document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
        self.name: str = document["name"]
        self.services: dict[str, dict] = document["services"]
        #: What `clockwork destroy` left behind (Compose's down cleaned it up): worth a note.
        self.destroy_problems: list[str] = []

    def timed(self, argv: list[str], *, file: Path | None = None, after: Callable[[], object] | None = None) -> float:
        """Seconds from starting ``argv`` (on a torn-down stack) until every service is ready."""
        try:
            start = time.perf_counter()
            run(argv, cwd=self.project, timeout=READY_TIMEOUT)
            self.wait_ready(start + READY_TIMEOUT)
            seconds = time.perf_counter() - start
            if after is not None:
                after()
            return seconds
        finally:
            self.down(file)

    def reapply(self) -> float:
        """A second ``clockwork apply`` with nothing changed, on the running stack."""
        start = time.perf_counter()
        run(clockwork("apply", "-C", str(self.project)), cwd=self.project, timeout=READY_TIMEOUT)
        self.wait_ready(start + READY_TIMEOUT)
        return time.perf_counter() - start

    def down(self, file: Path | None = None) -> None:
        """Remove containers, network and volumes: clockwork's way, then Compose's if anything is left."""
        destroy = run(clockwork("destroy", "-C", str(self.project)), check=False, timeout=120)
        left = self.leftovers()
        if destroy.returncode == 0 and not left:
            return
        self.destroy_problems.append(f"exit {destroy.returncode}, left {left}: {destroy.stderr.strip()[-300:]}")
        down = ["docker", "compose", "-f", str(file or self.compose_file), "down", "-v", "--remove-orphans", "-t", "3"]
        for _ in range(5):
            run(down, timeout=120)
            if not (left := self.leftovers()):
                return
            time.sleep(1)
        raise BenchError(f"could not tear down project {self.name}: {left}")

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.name}"
        containers = run(["docker", "ps", "-a", "-q", "--filter", label]).stdout.split()
        volumes = run(["docker", "volume", "ls", "-q", "--filter", label]).stdout.split()
        return containers + volumes

    def wait_ready(self, deadline: float) -> None:
        while True:
            pending = self.not_ready()
            if not pending:
                return
            if time.perf_counter() > deadline:
                raise BenchError(f"not ready after {READY_TIMEOUT} s: {', '.join(pending)}")
            time.sleep(0.05)

    def not_ready(self) -> list[str]:
        """Services not yet healthy (or running, without a healthcheck; or exited 0, one-shots)."""
        ps = run(["docker", "compose", "-f", str(self.compose_file), "ps", "-a", "--format", "json"], timeout=60)
        states = {c["Service"]: c for c in _json_lines(ps.stdout)}
        pending = []
        for name, spec in self.services.items():
            state = states.get(name)
            if state is None:
                pending.append(f"{name} (no container)")
            elif spec.get("restart") == "no":
                if state.get("State") != "exited" or state.get("ExitCode") != 0:
                    pending.append(f"{name} ({state.get('State')}, exit {state.get('ExitCode')})")
            elif state.get("State") != "running" or ("healthcheck" in spec and state.get("Health") != "healthy"):
                pending.append(f"{name} ({state.get('State')} {state.get('Health', '')})".strip())
        return pending

    def wait_until_free(self, seconds: float) -> str | None:
        """Wait for the example's container names and host ports to be free; what is busy, or None."""
        deadline = time.perf_counter() + seconds
        while True:
            busy = self._busy()
            if not busy or time.perf_counter() > deadline:
                return busy or None
            time.sleep(2)

    def _busy(self) -> str:
        names = set(run(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout.split())
        taken = sorted(names & {spec.get("container_name", n) for n, spec in self.services.items()})
        ports = [p for p in HOST_PORTS if not _port_free(p)]
        parts = ([f"containers {', '.join(taken)}"] if taken else []) + ([f"host ports {ports}"] if ports else [])
        return "; ".join(parts)


def _json_lines(text: str) -> list[dict]:
    text = text.strip()
    if text.startswith("["):  # some Compose versions print one array
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _no_apply() -> str | None:
    if run(clockwork("apply", "--help"), check=False).returncode != 0:
        return "this clockwork has no `apply` command yet"
    return None


def _missing_images() -> str | None:
    missing = [i for i in IMAGES if run(["docker", "image", "inspect", i], check=False).returncode != 0]
    return f"images missing: {', '.join(missing)} (run scripts/build-test-images.sh)" if missing else None
