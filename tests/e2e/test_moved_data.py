"""A project folder moved or renamed takes its data along (issue 16, items 3 and 4), on the
real engine through the CLI: rows written before `mv` are read after it, apply stops and
names `--adopt-data` before it would start on an empty database, nothing is moved or copied
without the flag, later applies never ask again, an interrupted adoption (Ctrl-C, kill -9)
is finished by the next one, and the guard says what a volume holds.

Small projects of their own (folders named ``mv-*``, host ports 16301-16309), everything
of their projects removed by label afterwards, also when a test fails."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import engine_support
import pytest
from e2e_support import CLI_TIMEOUT, Run

from clockwork_compose import _docker, _lower

pytestmark = pytest.mark.e2e

HEADER = "from clockwork_compose import *  # noqa: F403\n"
PG_ENV = '{"POSTGRES_USER": "mv", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "mvdb"}'  # pragma: allowlist secret
PG_DATA = "/var/lib/postgresql/data"
SIZE = re.compile(r"\(\d[\d.]* MB\)")


@dataclass
class Folder:
    dir: Path

    @property
    def name(self) -> str:
        return _lower.project_name(self.dir)

    def write(self, body: str) -> None:
        (self.dir / "main.py").write_text(HEADER + textwrap.dedent(body), encoding="utf-8")

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "clockwork_compose", *args]

    def cli(self, *args: str) -> Run:
        proc = subprocess.run(self.argv(*args), cwd=self.dir, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def move(self, to: Path) -> Folder:
        """`mv` the folder; the Folder at its new place."""
        to.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mv", str(self.dir), str(to)], check=True)
        return Folder(to)


@pytest.fixture
def projects(tmp_path: Path) -> Iterator[Callable[..., Folder]]:
    """Make project folders under tmp_path; ``also`` names the projects they become (after
    a rename): everything of all of them is removed after the test."""
    names: set[str] = set()

    def make(relative: str, also: tuple[str, ...] = ()) -> Folder:
        path = tmp_path / relative
        path.mkdir(parents=True)
        names.update({_lower.project_name(path), *also})
        return Folder(path)

    yield make
    for name in sorted(names):
        for volume in _docker.volumes(name):
            engine_support.docker("container", "rm", "--force", "--volumes", _docker.copier(volume.name), check=False)
    engine_support.remove_leftovers(projects=sorted(names))


def db_body(name: str, port: int) -> str:
    return f'db = DockerResource(name="{name}", image="postgres:15-alpine", ports=["{port}:5432"], env_vars={PG_ENV})\n'


def sql(port: int, statement: str = "SELECT count(*) FROM items") -> list[tuple[object, ...]]:
    import psycopg

    dsn = f"postgresql://mv:pw@127.0.0.1:{port}/mvdb"  # pragma: allowlist secret
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        cursor = conn.execute(statement)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []


def three_rows(port: int) -> None:
    sql(port, "CREATE TABLE items (id int PRIMARY KEY, what text)")
    sql(port, "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    assert sql(port) == [(3,)]


def rows(port: int) -> list[tuple[object, ...]]:
    return sql(port, "SELECT id, what FROM items ORDER BY id")


ROWS = [(1, "one"), (2, "two"), (3, "three")]


def mounted(container: str) -> str | None:
    state = _docker.container(container)
    return dict(state.volumes).get(PG_DATA) if state else None


def volume_labels(name: str) -> dict[str, str] | None:
    found = [v for v in _docker.clockwork_volumes() if v.name == name]
    return found[0].labels if found else None


def volume_names() -> frozenset[str]:
    return engine_support.volume_names()


# -- item 3: a moved folder -----------------------------------------------------------------------


def test_a_folder_moved_while_running_takes_its_data_along(projects, tmp_path: Path) -> None:
    first = projects("a/mv-move")
    first.write(db_body("mv-move-db", 16301))
    applied = first.cli("apply")
    assert applied.code == 0, applied.text
    three_rows(16301)
    volume = "mv-move_mv-move-db_data"
    old_id = _docker.container("mv-move-db").id  # type: ignore[union-attr]

    moved = first.move(tmp_path / "b" / "mv-move")
    assert moved.name == first.name

    refused = moved.cli("apply")
    assert refused.code == 1, refused.text
    assert "--adopt-data" in refused.err and "apply stopped before changing anything" in refused.err
    assert f"volume {volume} (" in refused.err and SIZE.search(refused.err), refused.err
    assert f"created in {first.dir}, which is gone" in refused.err
    assert "containers mv-move-db (project mv-move)" in refused.err
    assert _docker.container("mv-move-db").id == old_id  # type: ignore[union-attr]
    assert rows(16301) == ROWS  # still served by the old container, untouched
    assert volume_labels(volume + ".clockwork-owner") is None

    # destroy here is not the old folder's: it removes nothing, and says what to do.
    nothing = moved.cli("destroy")
    assert nothing.code == 0, nothing.text
    assert "nothing to remove" in nothing.err
    assert f"left alone: containers mv-move-db and volumes {volume} of project mv-move" in nothing.err
    assert f"created in {first.dir}, which is gone" in nothing.err
    assert "`clockwork apply --adopt-data`" in nothing.err and f"`docker volume rm {volume}`" in nothing.err
    assert _docker.container("mv-move-db").id == old_id  # type: ignore[union-attr]

    adopted = moved.cli("apply", "--adopt-data")
    assert adopted.code == 0, adopted.text
    assert f"replaced containers mv-move-db: they were created in {first.dir}, which is gone" in adopted.err
    assert f"adopted volume {volume} (created in {first.dir}, which is gone): it is this folder's now" in adopted.err
    assert rows(16301) == ROWS
    state = _docker.container("mv-move-db")
    assert state is not None and state.id != old_id and state.working_dir == str(moved.dir)
    assert mounted("mv-move-db") == volume  # the same volume: nothing copied
    assert volume_labels(volume)[_docker.OWNER_LABEL] == str(first.dir)  # type: ignore[index]
    assert volume_labels(volume + ".clockwork-owner")[_docker.OWNER_LABEL] == str(moved.dir)  # type: ignore[index]

    again = moved.cli("apply")
    assert again.code == 0, again.text
    assert "--adopt-data" not in again.err and "already up to date" in again.err

    kept = moved.cli("destroy", "--keep-volumes")
    assert kept.code == 0 and "mv-move-db" in kept.err, kept.text
    assert _docker.container("mv-move-db") is None and volume in volume_names()
    back = moved.cli("apply")
    assert back.code == 0, back.text
    assert "--adopt-data" not in back.err
    assert rows(16301) == ROWS

    gone = moved.cli("destroy")
    assert gone.code == 0, gone.text
    assert volume in gone.err and volume + ".clockwork-owner" in gone.err
    assert {volume, volume + ".clockwork-owner"}.isdisjoint(volume_names())
    assert engine_support.project_resources("mv-move").containers == ()


# -- item 3: a renamed folder ---------------------------------------------------------------------


def test_a_renamed_folder_copies_its_data_into_its_new_volume_and_keeps_the_old(projects, tmp_path: Path) -> None:
    first = projects("mv-ren", also=("mv-ren2",))
    first.write(db_body("mv-ren-db", 16302))
    assert first.cli("apply").code == 0
    three_rows(16302)
    old, new = "mv-ren_mv-ren-db_data", "mv-ren2_mv-ren-db_data"
    old_id = _docker.container("mv-ren-db").id  # type: ignore[union-attr]

    renamed = first.move(tmp_path / "mv-ren2")
    assert renamed.name == "mv-ren2"

    refused = renamed.cli("apply")
    assert refused.code == 1, refused.text
    assert f"mv-ren-db has no volume here yet ({new}): volume {old} (" in refused.err
    assert SIZE.search(refused.err), refused.err
    assert f"created in {first.dir}, which is gone" in refused.err
    assert "`clockwork apply --adopt-data`" in refused.err and "`clockwork apply --replace-data`" in refused.err
    assert new not in volume_names()  # no empty database made
    assert _docker.container("mv-ren-db").id == old_id  # type: ignore[union-attr]
    assert rows(16302) == ROWS

    adopted = renamed.cli("apply", "--adopt-data")
    assert adopted.code == 0, adopted.text
    assert f"copied volume {old} (created in {first.dir}, which is gone) into {new} (" in adopted.err
    assert f"delete it with `docker volume rm {old}`" in adopted.err
    assert rows(16302) == ROWS
    state = _docker.container("mv-ren-db")
    assert state is not None and state.project == "mv-ren2" and state.working_dir == str(renamed.dir)
    assert mounted("mv-ren-db") == new
    assert volume_labels(new)[_docker.ADOPTED_FROM_LABEL] == old  # type: ignore[index]
    assert old in volume_names() and new + ".clockwork-copying" not in volume_names()

    again = renamed.cli("apply")
    assert again.code == 0 and "--adopt-data" not in again.err, again.text
    assert renamed.cli("destroy", "--keep-volumes").code == 0
    back = renamed.cli("apply")
    assert back.code == 0 and "--adopt-data" not in back.err, back.text
    assert rows(16302) == ROWS

    gone = renamed.cli("destroy")
    assert gone.code == 0 and new in gone.err, gone.text
    assert new not in volume_names()
    assert old in volume_names()  # the original: another project's, kept until the user deletes it


def test_a_renamed_folder_may_start_empty_instead_keeping_the_old_data(projects, tmp_path: Path) -> None:
    first = projects("mv-fresh", also=("mv-fresh2",))
    first.write(db_body("mv-fresh-db", 16305))
    assert first.cli("apply").code == 0
    three_rows(16305)
    assert first.cli("destroy", "--keep-volumes").code == 0
    renamed = first.move(tmp_path / "mv-fresh2")
    assert renamed.cli("apply").code == 1
    fresh = renamed.cli("apply", "--replace-data")
    assert fresh.code == 0, fresh.text
    assert "docker volume rm mv-fresh_mv-fresh-db_data" in fresh.err
    assert sql(16305, "SELECT to_regclass('items') IS NULL") == [(True,)]  # empty, as asked
    assert "mv-fresh_mv-fresh-db_data" in volume_names()
    again = renamed.cli("apply")
    assert again.code == 0 and "--adopt-data" not in again.err, again.text


# -- item 3: an interrupted adoption --------------------------------------------------------------


class CopyStarts:
    """`docker events` for the start of clockwork's copy containers, from now on."""

    def __init__(self) -> None:
        argv = ["docker", "events", "--filter", "type=container", "--filter", "event=start"]
        argv += ["--filter", f"label={_docker.HELPER_LABEL}=copy", "--format", "{{.Actor.Attributes.name}}"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.started = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            self.started.set()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def interrupted(folder: Folder, signal_number: int) -> subprocess.CompletedProcess[str]:
    """`apply --adopt-data`, sent ``signal_number`` (to its whole process group, as a
    terminal's Ctrl-C is) as soon as the copy container starts."""
    events = CopyStarts()
    try:
        proc = subprocess.Popen(
            folder.argv("apply", "--adopt-data"),
            cwd=folder.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert events.started.wait(CLI_TIMEOUT), "the copy never started"
        os.killpg(proc.pid, signal_number)
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        events.close()


def test_an_interrupted_adoption_is_never_used_and_the_next_one_finishes_it(projects, tmp_path: Path) -> None:
    first = projects("mv-int", also=("mv-int2",))
    first.write(db_body("mv-int-db", 16303))
    assert first.cli("apply").code == 0
    three_rows(16303)
    # 150 MB more, so that the copy takes a while: an interruption lands in the middle of it.
    _docker.exec_in("mv-int-db", ["dd", "if=/dev/zero", f"of={PG_DATA}/ballast", "bs=1M", "count=150"])
    assert first.cli("destroy", "--keep-volumes").code == 0  # stopped this time (moved while running: above)
    renamed = first.move(tmp_path / "mv-int2")
    old, new = "mv-int_mv-int-db_data", "mv-int2_mv-int-db_data"
    marker = new + ".clockwork-copying"

    ctrl_c = interrupted(renamed, signal.SIGINT)
    assert ctrl_c.returncode == 130, ctrl_c.stderr
    assert "interrupted" in ctrl_c.stderr and "`clockwork apply --adopt-data` again" in ctrl_c.stderr
    assert {old, new, marker} <= volume_names()

    refused = renamed.cli("apply")
    assert refused.code == 1, refused.text
    assert f"copying volume {old} into {new} (--adopt-data) was interrupted" in refused.err
    assert "`clockwork apply --adopt-data`" in refused.err
    assert _docker.container("mv-int-db") is None  # nothing started on the part copied

    killed = interrupted(renamed, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert marker in volume_names()
    assert renamed.cli("apply").code == 1
    assert _docker.container("mv-int-db") is None

    finished = renamed.cli("apply", "--adopt-data")
    assert finished.code == 0, finished.text
    assert f"copied volume {old} into {new}" in finished.err
    assert rows(16303) == ROWS
    size = _docker.exec_in("mv-int-db", ["stat", "-c", "%s", f"{PG_DATA}/ballast"])
    assert size.strip() == str(150 * 1024 * 1024)
    assert marker not in volume_names() and old in volume_names()
    assert _docker.container(_docker.copier(new)) is None

    assert renamed.cli("destroy", "--keep-volumes").code == 0
    back = renamed.cli("apply")
    assert back.code == 0 and "--adopt-data" not in back.err, back.text
    assert rows(16303) == ROWS


# -- item 4: the guard says what a volume holds --------------------------------------------------


def test_the_guard_says_what_each_volume_holds(projects) -> None:
    """After `--replace-data` and a revert, the volume the file mounts again holds the old
    data: the guard says so (it said "(empty)")."""
    project = projects("mv-guard")
    declared = db_body("mv-guard-db", 16304).replace("env_vars=", f'volumes=["old_data:{PG_DATA}"], env_vars=')
    project.write(declared)
    assert project.cli("apply").code == 0
    three_rows(16304)

    project.write(db_body("mv-guard-db", 16304))
    refused = project.cli("apply")
    assert refused.code == 1, refused.text
    assert re.search(r"volume mv-guard_old_data \(\d[\d.]* MB\) at", refused.err), refused.err
    assert "mounts mv-guard_mv-guard-db_data there, which does not exist yet" in refused.err
    assert "mv-guard_mv-guard-db_data" not in volume_names()
    assert project.cli("apply", "--replace-data").code == 0
    assert sql(16304, "SELECT to_regclass('items') IS NULL") == [(True,)]

    project.write(declared)  # the revert
    reverted = project.cli("apply")
    assert reverted.code == 1, reverted.text
    assert "(empty)" not in reverted.err
    assert re.search(r"mounts mv-guard_old_data there, which holds \d[\d.]* MB", reverted.err), reverted.err
    assert "to recreate it on the data the new file mounts instead" in reverted.err
    assert project.cli("apply", "--replace-data").code == 0
    assert rows(16304) == ROWS  # back on the data it holds
    assert project.cli("destroy").code == 0
    assert {"mv-guard_old_data", "mv-guard_mv-guard-db_data"}.isdisjoint(volume_names())


def test_measuring_a_volume_that_does_not_exist_never_creates_it() -> None:
    """Mounting a missing volume creates it: measuring one that is not there must not."""
    name = "mv-nowhere_db_data"
    usage = _docker.volume_usage([name], ["postgres:15-alpine"])
    assert usage[name] == _docker.VolumeUsage(name, False)
    assert name not in volume_names()
