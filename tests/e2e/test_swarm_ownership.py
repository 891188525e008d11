"""Swarm keeps Compose's ownership rules (issue 16, items 1, 2 and 5), on a real single-node
swarm, through `clockwork` as a process: a stack is acted on only from the folder that made
it; a stack deployed before clockwork recorded folders is taken over by an apply (which says
so) and refused by destroy; a Swarm stack and the Compose project of its name never serve one
volume twice; one apply or destroy of a stack at a time.

Projects of their own (names start with ``own-``), each removed afterwards, also when a test
fails: stacks by their label (``swarm_runtime.remove``), Compose projects by theirs. The swarm
is created here and left again (``e2e_support.swarm_mode``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import engine_support
import pytest
from e2e_support import CLI_TIMEOUT, Run, clockwork, swarm_mode

from clockwork_compose import _docker, _lower
from clockwork_compose._targets.swarm import runtime as swarm_runtime

pytestmark = pytest.mark.e2e

HEADER = "from clockwork_compose import *  # noqa: F403\n"
PG_ENV = '{"POSTGRES_USER": "own", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "owndb"}'  # pragma: allowlist secret
#: clockwork as it was before it recorded folders on what a deploy makes.
OLD_CLOCKWORK = (
    "import sys\n"
    "from clockwork_compose._targets.swarm import runtime as swarm_runtime\n"
    "swarm_runtime.stamp = lambda doc, folder: doc\n"
    "from clockwork_compose._cli import run\n"
    "run()\n"
)


def body(prefix: str, readiness: str = "") -> str:
    """A database with a table, its migrator, and an app; ``readiness``: the app's probe."""
    probe = f", readiness={readiness}" if readiness else ""
    return textwrap.dedent(
        f"""
        db = DockerResource(name="{prefix}-db", image="postgres:15-alpine", env_vars={PG_ENV})
        app = DockerResource(
            name="{prefix}-app", image="clockwork-standin-base:bookworm", command=["sleep", "infinity"]{probe}
        )
        app.connect(DatabaseConnection(to_resource=db, schema_file="schema.sql"))
        """
    )


@dataclass
class Folder:
    dir: Path

    @property
    def name(self) -> str:
        return _lower.project_name(self.dir)

    def write(self, text: str) -> None:
        (self.dir / "main.py").write_text(HEADER + text, encoding="utf-8")
        (self.dir / "schema.sql").write_text("CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY);\n")

    def cli(self, *args: str) -> Run:
        return clockwork(*args, cwd=self.dir)

    def old_cli(self, *args: str) -> Run:
        proc = subprocess.run(
            [sys.executable, "-c", OLD_CLOCKWORK, *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def swarm() -> Iterator[None]:
    with swarm_mode():
        yield


@pytest.fixture
def folder(swarm: None, tmp_path: Path) -> Iterator[Callable[..., Folder]]:
    """Make project folders under tmp_path (``copy_of``: a copy of another one, .env and
    generated files included); their stacks and Compose projects are removed after."""
    made: list[Folder] = []

    def make(relative: str, copy_of: Folder | None = None) -> Folder:
        path = tmp_path / relative
        if copy_of is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(copy_of.dir, path)
        else:
            path.mkdir(parents=True)
        new = Folder(path)
        if new.name not in {f.name for f in made}:
            swarm_runtime.remove(new.name)  # what a killed run of this test left
        made.append(new)
        return new

    yield make
    names = sorted({f.name for f in made})
    for name in names:
        swarm_runtime.remove(name)
    engine_support.remove_leftovers(projects=names)


# -- what is on the engine ------------------------------------------------------------------


def services(stack: str) -> dict[str, tuple[str, int]]:
    """The stack's services: (id, version) each; a version changes with every update."""
    return {n: (s["ID"], s["Version"]["Index"]) for n, s in swarm_runtime.stack_services(stack).items()}


def owners(stack: str) -> dict[str, str]:
    found = swarm_runtime.stack_services(stack).items()
    return {n: (s["Spec"].get("Labels") or {}).get(_docker.OWNER_LABEL, "") for n, s in found}


def running_tasks(stack: str) -> set[str]:
    label = f"label={_docker.STACK_LABEL}={stack}"
    return set(engine_support.docker("ps", "-q", "--filter", label).stdout.split())


def stack_containers(stack: str) -> list[str]:
    label = f"label={_docker.STACK_LABEL}={stack}"
    return engine_support.docker("ps", "-aq", "--filter", label).stdout.split()


def volume_labels(name: str) -> dict[str, str] | None:
    done = engine_support.docker("volume", "inspect", name, check=False)
    return dict(json.loads(done.stdout)[0]["Labels"] or {}) if done.returncode == 0 else None


def compose_containers(project: str) -> list[str]:
    label = f"label={_docker.PROJECT_LABEL}={project}"
    return engine_support.docker("ps", "-aq", "--filter", label).stdout.split()


def sql(stack: str, db: str, statement: str) -> str:
    """``statement`` through psql in the stack's running database task."""
    run = swarm_runtime._exec_in(stack)
    return run(db, ["psql", "-U", "own", "-d", "owndb", "-tAc", statement], {}).strip()


def three_rows(stack: str, db: str) -> None:
    sql(stack, db, "INSERT INTO items VALUES (1), (2), (3)")
    assert sql(stack, db, "SELECT count(*) FROM items") == "3"


def data_volume(project: str) -> str:
    return f"{project}_{project}-db_data"


# -- item 1: a stack is this folder's, or left alone ------------------------------------------


def test_another_folder_can_neither_destroy_nor_take_over_a_stack(folder) -> None:
    a = folder("a/own-two")
    a.write(body("own-two"))
    applied = a.cli("apply", "--target", "swarm")
    assert applied.code == 0, applied.text
    three_rows("own-two", "own-two-db")
    before, tasks = services("own-two"), running_tasks("own-two")
    assert set(owners("own-two").values()) == {str(a.dir)}
    assert volume_labels(data_volume("own-two"))[_docker.OWNER_LABEL] == str(a.dir)  # type: ignore[index]
    assert str(a.dir) not in (a.dir / "docker-stack.yml").read_text()  # the committed file stays portable

    # A folder of the same name with no main.py: the issue's `destroy` removed everything here.
    b = folder("b/own-two")
    for args in ((), ("--stack", "own-two"), ("--keep-volumes",)):
        left = b.cli("destroy", "--target", "swarm", *args)
        assert left.code == 0, left.text
        assert "nothing to remove" in left.err and f"made from {a.dir}" in left.err, left.err
    # Another project pointing --stack at it.
    other = folder("own-other")
    other.write(body("own-other"))
    pointed = other.cli("apply", "--target", "swarm", "--stack", "own-two")
    assert pointed.code == 1, pointed.text
    assert f"stack own-two belongs to {a.dir}" in pointed.err and "nothing was changed" in pointed.err
    assert "nothing to remove" in other.cli("destroy", "--target", "swarm", "--stack", "own-two").err
    # A copy of the folder, .env and docker-stack.yml included.
    c = folder("c/own-two", copy_of=a)
    taken = c.cli("apply", "--target", "swarm")
    assert taken.code == 1, taken.text
    assert f"stack own-two belongs to {a.dir}" in taken.err and "own-two_own-two-db" in taken.err
    assert f"`clockwork destroy --target swarm` in {a.dir}" in taken.err
    assert services("own-two") == before and running_tasks("own-two") == tasks  # nothing updated
    assert sql("own-two", "own-two-db", "SELECT count(*) FROM items") == "3"

    # Its services gone, its data kept: still not the other folder's to mount or remove.
    kept = a.cli("destroy", "--target", "swarm", "--keep-volumes")
    assert kept.code == 0, kept.text
    assert services("own-two") == {} and volume_labels(data_volume("own-two")) is not None
    borrowed = c.cli("apply", "--target", "swarm")
    assert borrowed.code == 1, borrowed.text
    assert f"stack own-two belongs to {a.dir} (made there: volume {data_volume('own-two')})" in borrowed.err
    assert services("own-two") == {}
    compose = c.cli("apply")  # the Compose project of that name would mount it too
    assert compose.code == 1, compose.text
    assert f"Swarm stack own-two, made in {a.dir}, left its data in {data_volume('own-two')}" in compose.err
    assert compose_containers("own-two") == []
    nothing = c.cli("destroy", "--target", "swarm")
    assert nothing.code == 0 and "nothing to remove" in nothing.err, nothing.text
    assert volume_labels(data_volume("own-two")) is not None

    back = a.cli("apply", "--target", "swarm")
    assert back.code == 0, back.text
    assert sql("own-two", "own-two-db", "SELECT count(*) FROM items") == "3"  # its own data, back
    gone = a.cli("destroy", "--target", "swarm")
    assert gone.code == 0, gone.text
    assert data_volume("own-two") in gone.err
    assert services("own-two") == {} and stack_containers("own-two") == []
    assert volume_labels(data_volume("own-two")) is None


def test_data_compose_made_goes_to_the_stack_of_its_own_folder_only(folder) -> None:
    """Compose's data, kept by `destroy --keep-volumes`, is mounted by the stack of the same
    folder, never by a copy's; Swarm's destroy leaves it to Compose's, and says so."""
    a = folder("a/own-cv")
    a.write(body("own-cv"))
    assert a.cli("apply").code == 0
    psql = ["psql", "-U", "own", "-d", "owndb", "-tAc"]
    _docker.exec_in("own-cv-db", [*psql, "INSERT INTO items VALUES (1), (2), (3)"])
    assert a.cli("destroy", "--keep-volumes").code == 0

    copy = folder("c/own-cv", copy_of=a)
    taken = copy.cli("apply", "--target", "swarm")
    assert taken.code == 1, taken.text
    assert f"Compose project own-cv, made in {a.dir}, keeps its data in {data_volume('own-cv')}" in taken.err
    assert f"Run `clockwork destroy` in {a.dir} first" in taken.err and services("own-cv") == {}

    moved = a.cli("apply", "--target", "swarm")
    assert moved.code == 0, moved.text
    assert sql("own-cv", "own-cv-db", "SELECT count(*) FROM items") == "3"
    gone = a.cli("destroy", "--target", "swarm")
    assert gone.code == 0, gone.text
    assert f"left alone: volumes {data_volume('own-cv')} of Compose project own-cv" in gone.err
    assert services("own-cv") == {} and volume_labels(data_volume("own-cv")) is not None
    assert data_volume("own-cv") in a.cli("destroy").err
    assert volume_labels(data_volume("own-cv")) is None


def test_a_stack_deployed_before_folders_were_recorded_is_taken_over_by_apply_never_by_destroy(folder) -> None:
    """A user upgrading: their stack carries no folder. destroy cannot tell whose it is and
    refuses (nothing lost, the fix named); an apply in the folder records it, restarting
    nothing and running no job again; from then on the rules hold."""
    a = folder("a/own-old")
    a.write(body("own-old"))
    old = a.old_cli("apply", "--target", "swarm")
    assert old.code == 0, old.text
    three_rows("own-old", "own-old-db")
    assert set(owners("own-old").values()) == {""}
    assert _docker.OWNER_LABEL not in volume_labels(data_volume("own-old"))  # type: ignore[operator]
    before, tasks = services("own-old"), running_tasks("own-old")

    for where in (folder("b/own-old"), a):
        refused = where.cli("destroy", "--target", "swarm")
        assert refused.code == 1, refused.text
        assert "stack own-old has no record of the folder that made it" in refused.err
        assert "nothing was changed" in refused.err and "`clockwork apply --target swarm`" in refused.err
        assert f"`docker volume rm {data_volume('own-old')}`" in refused.err
    assert services("own-old") == before and running_tasks("own-old") == tasks

    job = swarm_runtime.stack_services("own-old")["own-old-db-migrator"]["JobStatus"]
    adopted = a.cli("apply", "--target", "swarm")
    assert adopted.code == 0, adopted.text
    assert f"recorded {a.dir} as the folder of stack own-old" in adopted.err
    assert "nothing changed, nothing deployed" in adopted.err
    assert running_tasks("own-old") == tasks  # labelled in place: no task restarted
    assert swarm_runtime.stack_services("own-old")["own-old-db-migrator"]["JobStatus"] == job  # not run again
    assert owners("own-old") == {"own-old-db": str(a.dir), "own-old-app": str(a.dir), "own-old-db-migrator": ""}
    assert sql("own-old", "own-old-db", "SELECT count(*) FROM items") == "3"

    copy = folder("c/own-old", copy_of=a)
    taken = copy.cli("apply", "--target", "swarm")
    assert taken.code == 1 and f"stack own-old belongs to {a.dir}" in taken.err, taken.text
    gone = a.cli("destroy", "--target", "swarm")
    assert gone.code == 0, gone.text
    assert services("own-old") == {} and stack_containers("own-old") == []
    assert volume_labels(data_volume("own-old")) is None


def test_a_stack_name_docker_would_refuse_is_a_usage_error(folder) -> None:
    a = folder("own-bad")
    a.write(body("own-bad"))
    for command in ("apply", "destroy"):
        bad = a.cli(command, "--target", "swarm", "--stack", "../own-bad")
        assert bad.code == 2, bad.text
        assert bad.err.strip() == (
            "error: field '--stack': '../own-bad' is not a stack name; "
            "use up to 63 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    assert services("own-bad") == {}


# -- item 2: one volume, one server ---------------------------------------------------------------


def test_swarm_then_compose_on_one_folder_never_serves_one_volume_twice(folder) -> None:
    a = folder("own-twin")
    a.write(body("own-twin"))
    assert a.cli("apply", "--target", "swarm").code == 0
    three_rows("own-twin", "own-twin-db")
    before = services("own-twin")

    compose = a.cli("apply")
    assert compose.code == 1, compose.text
    assert "Swarm stack own-twin runs on this engine" in compose.err
    assert data_volume("own-twin") in compose.err and "nothing was changed" in compose.err
    assert "`clockwork destroy --target swarm --keep-volumes`" in compose.err
    assert compose_containers("own-twin") == []  # no second PostgreSQL server
    assert services("own-twin") == before
    assert sql("own-twin", "own-twin-db", "SELECT count(*) FROM items") == "3"

    # What the message says: the stack goes, its data stays, and Compose serves it.
    assert a.cli("destroy", "--target", "swarm", "--keep-volumes").code == 0
    moved = a.cli("apply")
    assert moved.code == 0, moved.text
    out = _docker.exec_in("own-twin-db", ["psql", "-U", "own", "-d", "owndb", "-tAc", "SELECT count(*) FROM items"])
    assert out.strip() == "3"
    users = engine_support.docker("ps", "-q", "--filter", f"volume={data_volume('own-twin')}").stdout.split()
    assert users == [_docker.container("own-twin-db").id[:12]]  # type: ignore[union-attr]

    # And the other direction, already refused before this issue: still refused.
    swarm = a.cli("apply", "--target", "swarm")
    assert swarm.code == 1 and f"Compose project own-twin runs on this engine (from {a.dir})" in swarm.err, swarm.text
    assert f"`clockwork destroy --keep-volumes` in {a.dir} first" in swarm.err
    assert services("own-twin") == {}
    assert a.cli("destroy").code == 0
    # Compose never made that volume (the stack did): Swarm's destroy removes it.
    assert volume_labels(data_volume("own-twin")) is not None
    gone = a.cli("destroy", "--target", "swarm")
    assert gone.code == 0 and data_volume("own-twin") in gone.err, gone.text
    assert volume_labels(data_volume("own-twin")) is None


# -- item 5: one apply or destroy of a stack at a time ---------------------------------------------


def lock_holder(name: str) -> str:
    path = _docker.LOCK_DIR / f"project-{name}.lock"
    return path.read_text() if path.is_file() else ""


def wait_for(probe: Callable[[], object], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"{what}: not after {timeout}s"
        time.sleep(0.2)


def background(folder: Folder, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "clockwork_compose", *args],
        cwd=folder.dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_destroy_during_an_apply_of_the_stack_is_refused_and_the_apply_ends_healthy(folder) -> None:
    """The issue's race: apply then said "applied", with nothing left. The app's readiness
    waits for a file this test writes, so the apply is surely still running."""
    a = folder("own-srace")
    a.write(body("own-srace", readiness='CommandProbe("test -f /tmp/own-go")'))
    apply = background(a, "apply", "--target", "swarm")
    try:
        wait_for(lambda: lock_holder("own-srace") == f"{apply.pid} apply of own-srace", "apply holds the lock")
        refused = a.cli("destroy", "--target", "swarm")
        assert refused.code == 1, refused.text
        assert f"an apply of own-srace is running (process {apply.pid})" in refused.err
        assert "nothing was changed" in refused.err
        compose = a.cli("destroy")  # the Compose project of that name shares the lock
        assert compose.code == 1 and f"an apply of own-srace is running (process {apply.pid})" in compose.err

        def app_task() -> list[str]:
            label = "label=com.docker.swarm.service.name=own-srace_own-srace-app"
            return engine_support.docker("ps", "-q", "--filter", label).stdout.split()

        wait_for(app_task, "the app's task runs")
        _docker.exec_in(app_task()[0], ["touch", "/tmp/own-go"])
        out, err = apply.communicate(timeout=CLI_TIMEOUT)
    finally:
        if apply.poll() is None:
            apply.kill()
    assert apply.returncode == 0, out + err
    assert "applied stack own-srace" in err
    assert set(services("own-srace")) == {"own-srace-db", "own-srace-db-migrator", "own-srace-app"}
    assert len(running_tasks("own-srace")) == 2  # the database and the app
    gone = a.cli("destroy", "--target", "swarm")
    assert gone.code == 0, gone.text
    assert services("own-srace") == {}


def test_an_apply_during_a_destroy_of_the_stack_is_refused_naming_it(folder) -> None:
    """A destroy that takes a while: a container of this test mounts the stack's data
    volume, so destroy retries removing it until that container goes."""
    a = folder("own-drace")
    a.write(body("own-drace"))
    assert a.cli("apply", "--target", "swarm").code == 0
    holder = "own-drace-holder"
    volume = data_volume("own-drace")
    engine_support.docker("run", "-d", "--name", holder, "-v", f"{volume}:/data", "redis:7-alpine")
    destroy = background(a, "destroy", "--target", "swarm")
    try:
        wait_for(lambda: lock_holder("own-drace") == f"{destroy.pid} destroy of own-drace", "destroy holds the lock")
        wait_for(lambda: services("own-drace") == {}, "destroy removed the services")
        for args in (("apply", "--target", "swarm"), ("apply",)):
            refused = a.cli(*args)
            assert refused.code == 1, refused.text
            assert f"a destroy of own-drace is running (process {destroy.pid})" in refused.err
        assert services("own-drace") == {} and compose_containers("own-drace") == []
    finally:
        engine_support.docker("rm", "-f", "-v", holder, check=False)
    out, err = destroy.communicate(timeout=CLI_TIMEOUT)
    assert destroy.returncode == 0, out + err
    assert volume in err and volume_labels(volume) is None
    again = a.cli("apply", "--target", "swarm")
    assert again.code == 0, again.text
