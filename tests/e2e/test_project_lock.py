"""One apply or destroy of a project at a time (issue 16, item 5), on Compose, through
`clockwork` as a process on the real engine: a destroy during an apply is refused naming the
apply (which then ends healthy, its containers running), and an apply during a destroy is
refused naming the destroy, on either target (a Swarm stack and the Compose project of its
name share one lock). Swarm's own races are in test_swarm_ownership.py.

Projects of their own (names start with ``own-``), removed by label afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import CLI_TIMEOUT, Run, clockwork

from clockwork_compose import _docker, _lower

pytestmark = pytest.mark.e2e

HEADER = "from clockwork_compose import *  # noqa: F403\n"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Make a project folder with main.py; everything of its project is removed after."""
    made: list[Path] = []

    def make(name: str, body: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "main.py").write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
        made.append(folder)
        return folder

    yield make
    engine_support.remove_leftovers(projects=sorted(_lower.project_name(f) for f in made))


def cli(folder: Path, *args: str) -> Run:
    return clockwork(*args, cwd=folder)


def background(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "clockwork_compose", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lock_holder(name: str) -> str:
    """What the process holding the project's lock wrote there: "PID ACTION of NAME"."""
    path = _docker.LOCK_DIR / f"project-{name}.lock"
    return path.read_text() if path.is_file() else ""


def wait_for(probe: Callable[[], object], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"{what}: not after {timeout}s"
        time.sleep(0.2)


def test_destroy_during_an_apply_is_refused_and_the_apply_ends_with_its_container_running(project) -> None:
    """The issue's race: apply then said "applied ... healthy", exit 0, with no container
    left. Here the app's readiness waits for a file this test writes, so the apply surely
    runs while destroy is tried."""
    folder = project(
        "own-crace",
        """
        app = DockerResource(
            name="own-crace-app",
            image="clockwork-standin-base:bookworm",
            command=["sleep", "infinity"],
            readiness=CommandProbe("test -f /tmp/own-go"),
        )
        """,
    )
    apply = background(folder, "apply")
    try:
        wait_for(lambda: lock_holder("own-crace") == f"{apply.pid} apply of own-crace", "apply holds the lock")
        wait_for(lambda: _docker.container("own-crace-app") is not None, "the app's container exists")
        refused = cli(folder, "destroy")
        assert refused.code == 1, refused.text
        assert f"an apply of own-crace is running (process {apply.pid})" in refused.err
        assert "nothing was changed" in refused.err
        assert _docker.container("own-crace-app") is not None
        wait_for(lambda: _docker.container("own-crace-app").status == "running", "the app runs")  # type: ignore[union-attr]
        _docker.exec_in("own-crace-app", ["touch", "/tmp/own-go"])
        out, err = apply.communicate(timeout=CLI_TIMEOUT)
    finally:
        if apply.poll() is None:
            apply.kill()
    assert apply.returncode == 0, out + err
    assert "applied own-crace" in err
    state = _docker.container("own-crace-app")
    assert state is not None and state.status == "running" and state.health == "healthy"
    gone = cli(folder, "destroy")
    assert gone.code == 0 and "own-crace-app" in gone.err, gone.text
    assert _docker.container("own-crace-app") is None


def test_an_apply_during_a_destroy_is_refused_naming_it_on_either_target(project) -> None:
    """The destroy is held up where it frees the project's own network (this test holds
    that network's host lock), after it removed the container and before it ends."""
    folder = project(
        "own-drace2",
        """
        app = DockerResource(
            name="own-drace2-app", image="clockwork-standin-base:bookworm", command=["sleep", "infinity"],
            networks=["own-drace2-net"],
        )
        """,
    )
    applied = cli(folder, "apply")
    assert applied.code == 0, applied.text
    with _docker.host_lock("network-own-drace2-net"):
        destroy = background(folder, "destroy")
        wait_for(lambda: lock_holder("own-drace2") == f"{destroy.pid} destroy of own-drace2", "destroy holds it")
        for args in (("apply",), ("apply", "--target", "swarm")):
            refused = cli(folder, *args)
            assert refused.code == 1, refused.text
            assert f"a destroy of own-drace2 is running (process {destroy.pid})" in refused.err
        assert destroy.poll() is None  # still held up: the refusals were not a race it lost
    out, err = destroy.communicate(timeout=CLI_TIMEOUT)
    assert destroy.returncode == 0, out + err
    assert "own-drace2-app" in err and _docker.container("own-drace2-app") is None
    assert _docker.networks("own-drace2-net") == []
    again = cli(folder, "apply")
    assert again.code == 0, again.text
    assert _docker.container("own-drace2-app").status == "running"  # type: ignore[union-attr]
