"""The ``clockwork_stack`` fixture's parts without an engine (``_testing`` over the fakes;
the plugin's loading): copies, typed access, destroy, Ctrl-C held off."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from fakes import FakeEngine
from support import EXAMPLE, REPO

from clockwork_compose import RuntimeFailure, _api, _testing
from clockwork_compose._docker import PROJECT_LABEL, ContainerState, Volume
from clockwork_compose._isolation import Isolation
from clockwork_compose._targets.base import ApplyReport, Failure


class Recording(FakeEngine):
    def __init__(self) -> None:
        super().__init__()
        self.ran: list[tuple[str, list[str], Mapping[str, str] | None]] = []

    def exec_in(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        self.ran.append((name, list(argv), env))
        return "PONG"


def _stack(engine: Recording | None = None) -> _testing.Stack:
    ports = iter(range(42000, 42100))
    isolation = Isolation("copy-", lambda service, port, protocol: next(ports), "connected-services")
    project, _, _ = _api.compile_project(EXAMPLE, isolation=isolation)
    return _testing.Stack(EXAMPLE, project, engine or Recording())


def test_typed_access_reads_the_copy_s_ports_and_credentials() -> None:
    stack = _stack()
    assert stack.port("api-server", 80) == 42000
    assert stack.url("api-server", 80) == "http://127.0.0.1:42000"
    assert (
        stack.database_url("postgres-db") == "postgresql://admin:secret123@127.0.0.1:42001/appdb"
    )  # pragma: allowlist secret
    assert stack.container("postgres-db") == "copy-postgres-db"


def test_exec_runs_in_the_copy_s_container() -> None:
    engine = Recording()
    assert _stack(engine).exec("redis-cache", ["redis-cli", "ping"]) == "PONG"
    assert engine.ran == [("copy-redis-cache", ["redis-cli", "ping"], None)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.port("api-server", 8080), r"publishes no 8080/tcp \(it publishes: 80/tcp\)"),
        (lambda s: s.port("nope", 80), "has no service 'nope'"),
        (
            lambda s: s.database_url("redis-cache"),
            r"no DatabaseConnection reaches redis-cache \(databases: postgres-db\)",
        ),
    ],
)
def test_what_a_copy_does_not_have_is_named(call, message: str) -> None:
    with pytest.raises(LookupError, match=message):
        call(_stack())


def test_a_copy_is_the_folder_under_a_new_name_without_what_is_not_the_project_s(tmp_path: Path) -> None:
    source = tmp_path / "shop"
    (source / "__pycache__").mkdir(parents=True)
    (source / "main.py").write_text("", encoding="utf-8")
    (source / ".env").write_text("X=1\n", encoding="utf-8")
    (source / "docker-compose.yml").write_text("old", encoding="utf-8")
    one = _testing.copy_project(source, tmp_path / "copies-1")
    two = _testing.copy_project(source, tmp_path / "copies-1")
    assert one.name != two.name and one.name.startswith("shop-t") and len(one.name) == len("shop-t") + 8
    assert sorted(p.name for p in one.iterdir()) == [".env", "main.py"]
    with pytest.raises(FileNotFoundError, match="holds no main.py"):
        _testing.copy_project(tmp_path / "copies-1", tmp_path)


def test_free_ports_answer_the_same_port_again_and_never_one_twice() -> None:
    host_port = _testing.free_ports()
    first = host_port("db", 5432, "tcp")
    assert host_port("db", 5432, "tcp") == first
    others = {host_port(f"s{i}", 80, "tcp") for i in range(20)}
    assert len(others) == 20 and first not in others


def _copy_on(engine: FakeEngine, folder: Path, name: str) -> None:
    engine.running.append(
        ContainerState(f"{name}-db", "db", "id-1", "running", None, 0, None, project=name, working_dir=str(folder))
    )
    engine.labels[f"{name}_db_data"] = {PROJECT_LABEL: name}
    engine.files[f"{name}_db_data"] = {}


def test_destroy_removes_the_copy_s_containers_and_volumes(tmp_path: Path) -> None:
    folder = tmp_path / "shop-t0123abcd"
    folder.mkdir()
    engine = FakeEngine(volumes=[Volume("other_db_data", {PROJECT_LABEL: "other"})])
    _copy_on(engine, folder, "shop-t0123abcd")
    _testing.destroy_copy(folder, engine)
    assert engine.running == []
    assert engine.removed_volumes == ["shop-t0123abcd_db_data"]
    assert "other_db_data" in engine.labels


def test_destroy_goes_on_while_a_cut_short_compose_up_still_creates(tmp_path: Path) -> None:
    folder = tmp_path / "shop-t0123abcd"
    folder.mkdir()
    engine = FakeEngine()
    _copy_on(engine, folder, "shop-t0123abcd")
    late = [True]
    removed = engine.remove_containers

    def remove_then_one_more(groups: Sequence[Sequence[str]]) -> None:
        removed(groups)
        if late:  # compose up creates one more, once
            late.pop()
            _copy_on(engine, folder, "shop-t0123abcd")

    engine.remove_containers = remove_then_one_more  # type: ignore[method-assign]
    _testing.destroy_copy(folder, engine)
    assert engine.running == []
    assert len(engine.removed_groups) >= 2


def test_destroy_says_so_when_the_copy_stays(tmp_path: Path) -> None:
    folder = tmp_path / "shop-t0123abcd"
    folder.mkdir()
    engine = FakeEngine()
    _copy_on(engine, folder, "shop-t0123abcd")
    engine.remove_containers = lambda groups: None  # type: ignore[method-assign]
    with pytest.raises(RuntimeFailure, match="still on the engine"):
        _testing.destroy_copy(folder, engine, settle=0)


def test_ctrl_c_waits_for_the_block_then_is_raised() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), _testing.interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the block ran to its end")
    assert done == ["the block ran to its end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_loading_the_plugin_imports_nothing_of_the_engine() -> None:
    code = (
        "import sys, clockwork_compose._pytest_plugin\n"
        "print(sorted(m for m in ('python_on_whales', 'psycopg', 'clockwork_compose._docker',"
        " 'clockwork_compose._testing') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.stdout.strip() == "[]"


def test_without_an_engine_a_stack_is_a_skip_and_a_failure_when_required(tmp_path: Path) -> None:
    test = tmp_path / "test_one.py"
    test.write_text(f"def test_it(clockwork_stack):\n    clockwork_stack({str(EXAMPLE)!r})\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    command = [sys.executable, "-m", "pytest", "-p", "clockwork_compose._pytest_plugin", "-q", "-rs", str(test)]
    env.pop("CLOCKWORK_E2E", None)
    skipped = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout and "clockwork_stack needs a Docker engine" in skipped.stdout
    env["CLOCKWORK_E2E"] = "required"
    failed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "1 failed" in failed.stdout, failed.stdout


def _report(failure: Failure | None) -> ApplyReport:
    return ApplyReport(project="connected-services-t0", file=Path("x"), services=(), seconds=1.0, failure=failure)


TAKEN = Failure("api-server", "Bind for 0.0.0.0:41234 failed: port is already allocated")


@pytest.mark.parametrize(
    ("reports", "raised", "destroyed"),
    [
        ([TAKEN, None], None, 1),  # someone took a port in between: new ports, once
        ([TAKEN, TAKEN], "port is already allocated", 1),
        ([Failure("postgres-db", "unhealthy", "FATAL: no space\n")], "(?s)postgres-db: unhealthy\n.*  \\| FATAL", 0),
        ([Failure(None, "interrupted (Ctrl-C) while waiting", interrupted=True)], "KeyboardInterrupt", 0),
    ],
)
def test_apply_copy_tries_new_ports_once_and_says_why_a_copy_failed(monkeypatch, reports, raised, destroyed) -> None:
    applied: list[Isolation] = []
    destroys: list[Path] = []

    def apply(folder: Path, isolation: Isolation, timeout: float | None) -> ApplyReport:
        applied.append(isolation)
        return _report(reports[len(applied) - 1])

    monkeypatch.setattr(_testing, "_apply", apply)
    monkeypatch.setattr(_testing, "destroy_copy", destroys.append)
    if raised is None:
        stack = _testing.apply_copy(EXAMPLE, EXAMPLE)
        assert stack.port("api-server", 80) == applied[-1].host_port("api-server", 80, "tcp")
    elif raised == "KeyboardInterrupt":
        with pytest.raises(KeyboardInterrupt):
            _testing.apply_copy(EXAMPLE, EXAMPLE)
    else:
        with pytest.raises(_testing.StackFailed, match=raised):
            _testing.apply_copy(EXAMPLE, EXAMPLE)
    assert len(applied) == len(reports) and len(destroys) == destroyed
    assert all(i.source_project == "connected-services" for i in applied)
