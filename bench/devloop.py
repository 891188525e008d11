"""`clockwork dev`: an edited file is running in the container within 2 s.

A small project of its own (cw-devloop-bench, a redis:7-alpine-based image it builds, no
published port, its own network): `clockwork dev` runs; each run writes a new content into a
file under a Sync path and times until `docker exec cat` in the container shows it (polled
every 50 ms). Median of a few runs. Then Ctrl-C and destroy, even on error.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import time
from pathlib import Path

from ._proc import BenchError, clockwork, docker_engine_available, run
from ._report import Row, skipped
from ._settings import Settings

NAME = "dev loop"
MEASUREMENT = "edited file visible in the container (Sync)"
GOAL = "< 2 s"
PROJECT = "cw-devloop-bench"
MAIN = """\
from clockwork_compose import DockerResource, ProjectSettings, Sync

ProjectSettings(container_names="compose", shared_network=False)
app = DockerResource(name="app", build="./app", watch=[Sync("./app/src", "/app/src")])
"""


def run_benchmark(settings: Settings) -> list[Row]:
    why_not = docker_engine_available() or _missing_image()
    if why_not:
        return [skipped(NAME, MEASUREMENT, why_not, GOAL)]
    folder = settings.scratch / PROJECT
    (folder / "app" / "src").mkdir(parents=True)
    (folder / "main.py").write_text(MAIN)
    (folder / "app" / "Dockerfile").write_text("FROM redis:7-alpine\nCOPY src /app/src\n")
    edited = folder / "app" / "src" / "edited.txt"
    edited.write_text("start\n")
    container = f"{PROJECT}-app-1"
    dev = subprocess.Popen(clockwork("dev"), cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: _content(container) == "start", 120, "clockwork dev did not bring the app up")
        time.sleep(3)  # docker compose watch starts once apply returned
        samples = [_one_edit(edited, container, n) for n in range(3 if settings.quick else 7)]
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()
        run(clockwork("destroy", "-C", str(folder)), check=False, timeout=120)
        run(["docker", "image", "rm", f"{PROJECT}-app"], check=False, timeout=60)
    median = statistics.median(samples)
    note = f"median of {len(samples)}: write under Sync path -> `docker exec cat` shows it; docker compose watch"
    return [Row(NAME, MEASUREMENT, median, goal=GOAL, met=median < 2.0, note=note, samples={"clockwork": samples})]


def _one_edit(edited: Path, container: str, n: int) -> float:
    content = f"edit {n} {time.time()}"
    started = time.perf_counter()
    edited.write_text(content + "\n")
    _until(lambda: _content(container) == content, 15, f"edit {n} never reached the container")
    seconds = time.perf_counter() - started
    time.sleep(0.5)  # Compose debounces: the next edit is a change of its own
    return seconds


def _content(container: str) -> str:
    done = run(["docker", "exec", container, "cat", "/app/src/edited.txt"], check=False, timeout=10)
    return done.stdout.strip()


def _until(probe, timeout: float, failure: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise BenchError(failure)
        time.sleep(0.05)


def _missing_image() -> str | None:
    if run(["docker", "image", "inspect", "redis:7-alpine"], check=False, timeout=30).returncode != 0:
        return "image redis:7-alpine is missing (scripts/build-test-images.sh)"
    return None
