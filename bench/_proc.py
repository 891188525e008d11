"""The one door through which benchmarks start processes: timed, with the child's own peak memory."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A benchmark could not measure (a command failed): a real error, unlike a missed goal."""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    #: CPU time (user + system) of the child and the children it waited for.
    cpu_seconds: float = 0.0


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 600,
) -> Run:
    """Run ``argv`` to completion; wall time and the peak RSS of this child alone (``wait4``)."""
    merged = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=merged, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        status, usage = _wait(proc, timeout)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        result = Run(
            seconds,
            usage.ru_maxrss / 1024 if usage else 0.0,  # Linux reports KiB
            status,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime if usage else 0.0,
        )
    if check and result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise BenchError(f"`{' '.join(map(str, argv))}` exited {result.returncode}:\n  " + "\n  ".join(tail))
    return result


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, os.struct_rusage | None]:
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise BenchError(f"`{' '.join(map(str, proc.args))}` timed out after {timeout:.0f} s")  # type: ignore[arg-type]
        time.sleep(0.002)


def median_of(n: int, once: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [once() for _ in range(n)]
    return statistics.median(samples), samples


def clockwork(*args: str) -> list[str]:
    """The ``clockwork`` command as a user runs it (the console script of this interpreter)."""
    script = Path(sys.executable).parent / "clockwork"
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-m", "clockwork_compose", *args]


def compile_bytecode() -> str:
    """Compile the imported clockwork_compose to bytecode, as installing it does; what was done.

    pip compiles a package's modules when it installs it, and an editable checkout writes
    them on its first run, except where ``PYTHONDONTWRITEBYTECODE`` is set (these machines
    set it): then every timed run would compile clockwork's own modules from source again,
    a cost no user of an installed clockwork pays."""
    import importlib.util

    spec = importlib.util.find_spec("clockwork_compose")
    if spec is None or spec.origin is None:
        raise BenchError("clockwork_compose is not importable: pip install -e '.[test]'")
    package = Path(spec.origin).parent
    run([sys.executable, "-m", "compileall", "-q", str(package)])
    return f"compiled {package} to bytecode (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})"


def have(command: str) -> bool:
    return shutil.which(command) is not None


def docker_compose_available() -> str | None:
    """Why Compose v2 cannot be used here, or None when ``docker compose`` answers."""
    if not have("docker"):
        return "no docker CLI"
    probe = run(["docker", "compose", "version", "--short"], check=False, timeout=30)
    if probe.returncode != 0:
        return "Compose v2 (`docker compose`) is missing"
    return None


def docker_engine_available() -> str | None:
    """Why no engine can be used here, or None when ``docker info`` answers and Compose v2 exists."""
    missing = docker_compose_available()
    if missing:
        return missing
    if run(["docker", "info"], check=False, timeout=30).returncode != 0:
        return "no Docker engine answers (run scripts/provision-docker.sh)"
    return None
