"""Errors at the edge of `clockwork`: the files it reads and writes, a main.py that misbehaves,
and bugs of its own. Each is one line on stderr, the right exit code, and nothing written.

Real processes on throwaway projects; only the last-resort handler is driven in-process,
through a fake at the seam (a library function that raises what no library code should).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import HEADER, Result, run_cli
from typer.testing import CliRunner

from clockwork_compose import _api, _cli, _docker

APP = 'DockerResource(name="app", image="example/app:1", ports=["8080:80"])\n'
#: A secret makes clockwork manage .env (and .gitignore) besides the compose file.
WITH_SECRET = APP + 'DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": Secret("PW")})\n'
NOT_UTF8 = b"services: {}\n# caf\xe9\n"


def _project(root: Path, main: str = APP) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.py").write_text(HEADER + main, encoding="utf-8")
    return root


def _tree(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every path under ``root`` with its kind, bytes and mode: what "nothing written" compares."""
    out = {}
    for path in sorted(root.rglob("*")):
        kind = "dir" if path.is_dir() else "file"
        data = path.read_bytes() if kind == "file" else b""
        out[str(path.relative_to(root))] = (kind, data, path.stat().st_mode & 0o7777)
    return out


def _one_error_line(result: Result, code: int, *needles: str) -> str:
    assert result.code == code, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# -- files clockwork reads and writes ----------------------------------------------------------


def test_compose_file_that_is_a_folder(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / "docker-compose.yml").mkdir()
    before = _tree(root)
    result = run_cli("build", "-C", str(root), env={"PW": "s3cret"})
    _one_error_line(result, 2, "error: ", "docker-compose.yml is a folder, not a file", "remove or rename")
    assert _tree(root) == before  # no .env, no .gitignore either: checked before anything is written


def test_check_on_a_compose_file_that_is_a_folder(tmp_path):
    root = _project(tmp_path / "p")
    (root / "docker-compose.yml").mkdir()
    _one_error_line(run_cli("build", "--check", "-C", str(root)), 2, "is a folder")


def test_env_file_that_is_a_folder(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / ".env").mkdir()
    before = _tree(root)
    result = run_cli("build", "-C", str(root), env={"PW": "s3cret"})
    _one_error_line(result, 2, ".env is a folder, not a file")
    assert _tree(root) == before


def test_env_folder_does_not_matter_when_clockwork_leaves_env_alone(tmp_path):
    root = _project(tmp_path / "p")  # no secrets: clockwork neither reads nor writes .env
    (root / ".env").mkdir()
    assert run_cli("build", "-C", str(root)).code == 0


def test_compose_file_that_is_not_utf8(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / "docker-compose.yml").write_bytes(NOT_UTF8)
    before = _tree(root)
    result = run_cli("build", "-C", str(root), env={"PW": "s3cret"})
    _one_error_line(result, 2, "docker-compose.yml is not UTF-8 text", "0xe9")
    assert _tree(root) == before


def test_env_file_that_is_not_utf8(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / ".env").write_bytes(b"OLD='caf\xe9'\n")
    before = _tree(root)
    result = run_cli("build", "-C", str(root), env={"PW": "s3cret"})
    _one_error_line(result, 2, ".env is not UTF-8 text", "save it as UTF-8")
    assert _tree(root) == before


def test_gitignore_that_is_not_utf8(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / ".git").mkdir()  # the repository root: .gitignore files above it are not read
    (root / ".gitignore").write_bytes(b"# caf\xe9\n")
    before = _tree(root)
    result = run_cli("build", "-C", str(root), env={"PW": "s3cret"})
    _one_error_line(result, 2, ".gitignore is not UTF-8 text")
    assert _tree(root) == before


@pytest.mark.parametrize("where", ["-o", ".env", "docker-compose.yml"])
def test_a_named_pipe_is_refused_not_read_or_replaced(tmp_path, where):
    """Reading a FIFO waits for a writer (build hung); renaming over it replaces it (as over
    /dev/null, a device: `build -o /dev/null` must not replace the device either)."""
    root = _project(tmp_path / "p", WITH_SECRET)
    fifo = root / ("out.yml" if where == "-o" else where)
    os.mkfifo(fifo)
    args = ["-o", str(fifo)] if where == "-o" else []
    result = run_cli("build", "-C", str(root), *args, env={"PW": "s3cret"})  # gives up after 120 s
    _one_error_line(result, 2, f"{fifo} is a named pipe, not a regular file")
    assert fifo.is_fifo()
    assert sorted(p.name for p in root.iterdir()) == sorted(["main.py", fifo.name])


def test_output_under_a_file(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    before = _tree(tmp_path)
    result = run_cli("build", "-C", str(root), "-o", str(tmp_path / "notes.txt" / "deploy" / "compose.yml"))
    _one_error_line(result, 2, "cannot be created", "notes.txt is a file, not a folder")
    assert _tree(tmp_path) == before


def test_output_that_is_a_folder_is_the_same_one_line(tmp_path):
    root = _project(tmp_path / "p")
    (tmp_path / "out").mkdir()
    _one_error_line(run_cli("build", "-C", str(root), "-o", str(tmp_path / "out")), 2, "is a folder, not a file")


def _run_without_root_override(*args: str, env: dict[str, str] | None = None) -> Result:
    """`clockwork ARGS` subject to file permissions: as root, without CAP_DAC_OVERRIDE."""
    command = [sys.executable, "-m", "clockwork_compose", *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be enforced")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_unwritable_folder(tmp_path):
    root = _project(tmp_path / "p")
    before = _tree(root)
    root.chmod(0o555)
    try:
        result = _run_without_root_override("build", "-C", str(root))
    finally:
        root.chmod(0o755)
    _one_error_line(result, 2, "cannot be written", f"{root} is not writable", "-o")
    assert _tree(root) == before


def test_read_only_env_file_that_must_change(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / ".gitignore").write_text(".env\n")
    (root / ".env").write_text("OTHER=1\n")
    (root / ".env").chmod(0o444)
    before = _tree(root)
    result = _run_without_root_override("build", "-C", str(root), env={"PW": "new"})  # .env must record PW
    _one_error_line(result, 2, ".env is read-only", "chmod u+w .env")
    assert _tree(root) == before


def test_read_only_env_file_that_need_not_change_is_fine(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / ".gitignore").write_text(".env\n")
    assert run_cli("build", "-C", str(root), env={"PW": "s3cret"}).code == 0
    (root / ".env").chmod(0o400)
    result = _run_without_root_override("build", "-C", str(root))
    assert result.code == 0, result.err


# -- main.py that misbehaves -------------------------------------------------------------------


def test_main_py_that_never_returns_times_out_with_a_message(tmp_path):
    root = _project(tmp_path / "p", APP + "import threading\nthreading.Event().wait()\n")
    result = run_cli("--load-timeout", "0.5", "build", "-C", str(root))
    line = _one_error_line(result, 2, "main.py (at line 4) did not finish loading within 0.5s", "--load-timeout")
    assert "CLOCKWORK_LOAD_TIMEOUT" in line
    assert not (root / "docker-compose.yml").exists()


def test_load_timeout_from_the_environment(tmp_path):
    root = _project(tmp_path / "p", APP + "import time\ntime.sleep(600)\n")
    result = run_cli("plan", "-C", str(root), env={"CLOCKWORK_LOAD_TIMEOUT": "0.3"})
    _one_error_line(result, 2, "did not finish loading within 0.3s")


def test_load_timeout_default_is_60_seconds():
    from clockwork_compose import _loader

    assert _loader.load_timeout({}) == 60
    assert _loader.load_timeout({"CLOCKWORK_LOAD_TIMEOUT": "0"}) is None  # 0: no limit
    assert "default: 60" in run_cli("-h").out


@pytest.mark.parametrize("value", ["soon", "-1", "inf"])
def test_load_timeout_that_is_not_seconds(value):
    from clockwork_compose import _loader
    from clockwork_compose._errors import DeclarationError

    with pytest.raises(DeclarationError, match="CLOCKWORK_LOAD_TIMEOUT"):
        _loader.load_timeout({"CLOCKWORK_LOAD_TIMEOUT": value})


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("import os\nos._exit(0)\n", "main.py called os._exit(0) while loading"),
        ("from os import _exit\n_exit(3)\n", "main.py called os._exit(3) while loading"),
        ("raise KeyboardInterrupt\n", "main.py line 3 raised KeyboardInterrupt"),
        ("import sys\nsys.exit(1)\n", "main.py called sys.exit(1) while loading"),
    ],
    ids=["os._exit(0)", "from-os-import-_exit", "KeyboardInterrupt", "sys.exit"],
)
def test_main_py_that_exits_or_interrupts_itself(tmp_path, code, needle):
    root = _project(tmp_path / "p", APP + code)
    (root / "docker-compose.yml").write_text("# kept\n")
    result = run_cli("build", "-C", str(root))
    _one_error_line(result, 2, needle)  # not exit 0 with nothing said, not a traceback
    assert (root / "docker-compose.yml").read_text() == "# kept\n"


def test_what_main_py_prints_goes_to_stderr_and_json_stays_valid(tmp_path):
    root = _project(
        tmp_path / "p",
        APP + 'print("hello from main.py")\nimport os\nos.system("echo from a child of main.py")\n',
    )
    result = run_cli("plan", "--format", "json", "-C", str(root))
    assert result.code == 0, result.err
    assert json.loads(result.out)["layers"] == [["app"]]
    assert "hello from main.py" in result.err and "from a child of main.py" in result.err


def _engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    from engine_support import docker

    return docker("info", check=False, timeout=60).returncode == 0


@pytest.mark.e2e
def test_assert_json_stays_valid_whatever_main_py_prints(tmp_path):
    """Against the real engine, read-only: a project (named after its unique tmp folder) that
    was never applied, so every check fails, and the JSON must still parse."""
    if not _engine_answers():
        if os.environ.get("CLOCKWORK_E2E") == "required":
            pytest.fail("CLOCKWORK_E2E=required but no Docker engine answers", pytrace=False)
        pytest.skip("no Docker engine answers")
    root = _project(tmp_path / "d-assert-json", APP + 'print("[not json")\nimport os\nos.system("echo {oops")\n')
    result = run_cli("assert", "--json", "--timeout", "0", "-C", str(root))
    assert result.code == 1, result.err
    checks = json.loads(result.out)
    assert checks and all(not c["passed"] for c in checks)
    assert "[not json" in result.err and "{oops" in result.err


def test_ctrl_c_while_main_py_loads_exits_130(tmp_path):
    root = _project(
        tmp_path / "p", APP + 'import sys, time\nprint("loading", file=sys.stderr, flush=True)\ntime.sleep(600)\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "clockwork_compose", "build", "-C", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().strip() == "loading"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip() == "interrupted"
    assert not (root / "docker-compose.yml").exists()


# -- bugs of our own ---------------------------------------------------------------------------


def _boom(*args: object, **kwargs: object) -> None:
    raise ZeroDivisionError("division by zero\nsecond line")


def test_an_unexpected_exception_is_an_internal_error_exit_70(tmp_path, monkeypatch):
    root = _project(tmp_path / "p")
    monkeypatch.setattr(_api, "compile_project", _boom)
    monkeypatch.setattr(_cli, "_debug", False)
    result = CliRunner().invoke(_cli.app, ["plan", "-C", str(root)])
    assert result.exit_code == _cli.INTERNAL_ERROR == 70
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("internal error: ZeroDivisionError: division by zero / second line")
    assert "--debug" in lines[0] and "Traceback" not in result.stderr


def test_debug_lets_the_internal_error_show_its_traceback(tmp_path, monkeypatch):
    root = _project(tmp_path / "p")
    monkeypatch.setattr(_api, "compile_project", _boom)
    result = CliRunner().invoke(_cli.app, ["--debug", "plan", "-C", str(root)])
    monkeypatch.setattr(_cli, "_debug", False)
    assert isinstance(result.exception, ZeroDivisionError)


def test_the_entry_point_catches_what_escapes_the_commands(monkeypatch, capsys):
    def app(**kwargs: object) -> None:
        raise KeyError("escaped")

    monkeypatch.setattr(_cli, "app", app)
    monkeypatch.setattr(_cli, "_debug", False)
    with pytest.raises(SystemExit) as info:
        _cli.run()
    assert info.value.code == 70
    assert capsys.readouterr().err.startswith("internal error: KeyError: 'escaped' (")


# -- the Docker hint -----------------------------------------------------------------------------


def test_the_docker_hint_fits_a_pip_user():
    assert "scripts/" not in _docker.PROVISION_HINT  # the wheel ships no scripts
    assert "https://docs.docker.com/engine/install/" in _docker.PROVISION_HINT


def test_apply_without_a_docker_cli_says_how_to_install_one(tmp_path):
    root = _project(tmp_path / "p")
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_cli("apply", "-C", str(root), env={"PATH": str(empty)})
    assert result.code == 1
    assert "the docker CLI is not installed" in result.err
    assert _docker.PROVISION_HINT in result.err


# -- values Compose would reject, and what stays allowed -----------------------------------------


def _compile(tmp_path: Path, main: str):
    return _api.compile_project(_project(tmp_path / "p", main))[0]


def test_two_plain_connects_wanting_one_variable_name_both(tmp_path):
    from clockwork_compose._errors import DeclarationError

    main = (
        'a = DockerResource(name="sessions", image="redis:7")\n'
        'b = DockerResource(name="jobs", image="redis:7")\n'
        'web = DockerResource(name="web", image="example/web:1")\n'
        "web.connect(a)\nweb.connect(b)\n"
    )
    with pytest.raises(DeclarationError) as info:
        _compile(tmp_path, main)
    assert "sessions and jobs would both set REDIS_URL" in str(info.value)
    assert 'env_var_name="JOBS_URL"' in str(info.value)
    # The suggested fix compiles, and gives each its own variable.
    fixed = main.replace("web.connect(b)", 'web.connect(DatabaseConnection(to_resource=b, env_var_name="JOBS_URL"))')
    web = _compile(tmp_path / "fixed", fixed).services["web"]
    assert web.environment["REDIS_URL"] == "redis://sessions:6379/0"
    assert web.environment["JOBS_URL"] == "redis://jobs:6379/0"


def test_connecting_one_resource_twice_or_setting_the_variable_yourself_is_fine(tmp_path):
    twice = _compile(
        tmp_path,
        'r = DockerResource(name="cache", image="redis:7")\n'
        'web = DockerResource(name="web", image="example/web:1")\nweb.connect(r)\nweb.connect(r)\n',
    )
    assert twice.services["web"].environment["REDIS_URL"] == "redis://cache:6379/0"
    own = _compile(
        tmp_path / "own",
        'a = DockerResource(name="sessions", image="redis:7")\nb = DockerResource(name="jobs", image="redis:7")\n'
        'web = DockerResource(name="web", image="example/web:1", env_vars={"REDIS_URL": "redis://sessions/1"})\n'
        "web.connect(a)\nweb.connect(b)\n",
    )
    assert own.services["web"].environment["REDIS_URL"] == "redis://sessions/1"
    assert set(own.services["web"].depends_on) == {"sessions", "jobs"}


def test_what_compose_takes_is_still_allowed(tmp_path):
    project = _compile(
        tmp_path,
        'DockerResource(name="web", image="example/web:1", ports=["127.0.0.1:8080:80", "[::1]:8081:81"],\n'
        '    volumes=["a:/data", "b:/data2", "c:/srv/data"],\n'
        '    healthcheck=HealthCheck(test="true", interval=0.5, timeout=0.001, start_period=0, retries=3),\n'
        '    labels={"com.example.team": "core", "dev.clockworks.other": "x"})\n',
    )
    web = project.services["web"]
    assert [p.host_ip for p in web.ports] == ["127.0.0.1", "[::1]"]
    assert [m.target for m in web.mounts] == ["/data", "/data2", "/srv/data"]
    assert web.healthcheck is not None and web.healthcheck.interval == 0.5


def test_a_data_dir_mounted_by_hand_under_another_spelling_gets_no_second_volume(tmp_path):
    project = _compile(
        tmp_path,
        'DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": "x"},\n'
        '    volumes=["mine:/var/lib/postgresql/data/."])\n',
    )
    assert [(m.source, m.target) for m in project.services["db"].mounts] == [("mine", "/var/lib/postgresql/data/.")]


# -- output nobody reads -------------------------------------------------------------------------


def _with_stdout_unread(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with stdout a pipe whose reader has already gone (`... | head -c0`, made
    certain: every write fails, whatever the timing)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            command, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, env={**os.environ, **(env or {})}
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [("plan",), ("plan", "--format", "json"), ("plan", "--format", "dot"), ("secrets", "--target", "kubernetes")],
    ids=["plan", "plan-json", "plan-dot", "secrets"],
)
def test_output_nobody_reads_ends_quietly_as_unix_tools_do(tmp_path, args):
    """`clockwork plan | head -c1` once said "internal error: BrokenPipeError", exit 70.
    Now it ends as `yes | head -c1` ends `yes`: killed by SIGPIPE (the shell shows 141), silently."""
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / ".env").write_text('PW="s3cret"\n')
    unix_tool = _with_stdout_unread("yes")
    assert unix_tool.returncode == -signal.SIGPIPE  # what the shell shows as 141
    result = _with_stdout_unread(sys.executable, "-m", "clockwork_compose", *args, "-C", str(root))
    assert result.returncode == unix_tool.returncode, result.stderr
    assert result.stderr == ""


@pytest.mark.e2e
def test_assert_json_that_nobody_reads_ends_quietly_too(tmp_path):
    """Against the real engine, read-only: a project never applied (every check fails, and
    the JSON is long enough to fill no pipe: the reader is gone before it is written)."""
    if not _engine_answers():
        if os.environ.get("CLOCKWORK_E2E") == "required":
            pytest.fail("CLOCKWORK_E2E=required but no Docker engine answers", pytrace=False)
        pytest.skip("no Docker engine answers")
    root = _project(tmp_path / "sm-assert-pipe")
    result = _with_stdout_unread(
        sys.executable, "-m", "clockwork_compose", "assert", "--json", "--timeout", "0", "-C", str(root)
    )
    assert result.returncode == -signal.SIGPIPE, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_output_that_is_read_is_unchanged_by_the_pipe_handling(tmp_path):
    root = _project(tmp_path / "p", WITH_SECRET)
    (root / ".env").write_text('PW="s3cret"\n')
    result = run_cli("secrets", "--target", "kubernetes", "-C", str(root))
    assert result.code == 0 and "kind: Secret" in result.out and result.err == ""


def test_a_broken_pipe_that_is_not_our_output_stays_an_internal_error(tmp_path, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    root = _project(tmp_path / "p")
    monkeypatch.setattr(_api, "compile_project", broken)
    monkeypatch.setattr(_cli, "_debug", False)
    monkeypatch.setattr(_cli, "_reader_gone", lambda: False)  # stdout and stderr still read
    with pytest.raises(SystemExit) as info:
        monkeypatch.setattr(sys, "argv", ["clockwork", "plan", "-C", str(root)])
        _cli.run()
    assert info.value.code == _cli.INTERNAL_ERROR


# -- main.py until it exits ----------------------------------------------------------------------


def test_a_slow_exit_handler_is_held_to_the_load_timeout_and_nothing_is_written(tmp_path):
    """A main.py that registered a slow atexit handler once hung build after the file was
    written. The handler runs when main.py ends, within the load timeout."""
    root = _project(tmp_path / "p", APP + "import atexit, time\natexit.register(time.sleep, 600)\n")
    (root / "docker-compose.yml").write_text("# kept\n")
    result = run_cli("--load-timeout", "1", "build", "-C", str(root))  # run_cli gives up after 120 s
    _one_error_line(result, 2, "exit handler sleep did not end within 1s", "--load-timeout")
    assert (root / "docker-compose.yml").read_text() == "# kept\n"


def test_an_exit_handler_that_raises_is_a_load_error(tmp_path):
    code = "import atexit\n@atexit.register\ndef bye():\n    raise ValueError('cannot clean up')\n"
    root = _project(tmp_path / "p", APP + code)
    result = run_cli("build", "-C", str(root))
    _one_error_line(result, 2, "main.py's exit handler bye raised ValueError: cannot clean up", "atexit")
    assert not (root / "docker-compose.yml").exists()


def test_exit_handlers_run_once_when_main_py_ends_before_the_file_is_written(tmp_path):
    code = (
        "import atexit, pathlib\n"
        "here = pathlib.Path(__file__).parent\n"
        "def first():\n"
        "    with open(here / 'log', 'a') as f:\n"
        "        f.write(f'first compose={(here / \"docker-compose.yml\").exists()}\\n')\n"
        "def second():\n"
        "    with open(here / 'log', 'a') as f:\n"
        "        f.write('second\\n')\n"
        "atexit.register(first)\natexit.register(second)\n"
        "def dropped():\n    raise AssertionError('unregistered')\n"
        "atexit.register(dropped)\natexit.unregister(dropped)\n"
    )
    root = _project(tmp_path / "p", APP + code)
    result = run_cli("build", "-C", str(root))
    assert result.code == 0, result.err
    assert (root / "log").read_text() == "second\nfirst compose=False\n"  # last registered first, once


def test_a_library_exit_handler_keeps_its_place_at_process_exit(tmp_path):
    """Only main.py's own handlers move: weakref (the standard library) registers its own
    with atexit, which runs it when clockwork exits, after the file is written."""
    code = (
        "import sys, weakref\nclass Box: pass\nsys.kept_alive = Box()\n"
        "weakref.finalize(sys.kept_alive, sys.stderr.write, 'finalized at exit')\n"
    )
    root = _project(tmp_path / "p", APP + code)
    result = run_cli("build", "-C", str(root))
    assert result.code == 0, result.err
    assert result.err.index("wrote ") < result.err.index("finalized at exit"), result.err


def test_a_thread_main_py_leaves_running_is_held_to_the_load_timeout(tmp_path):
    """A non-daemon thread would keep clockwork from exiting: it is waited for within the
    load timeout, then abandoned, and clockwork ends (run_cli gives up after 120 s)."""
    code = "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), name='poller', daemon=False)"
    code += ".start()\n"
    root = _project(tmp_path / "p", APP + code)
    result = run_cli("--load-timeout", "1", "build", "-C", str(root))
    _one_error_line(result, 2, "main.py started thread 'poller', still running 1s after", "daemon")
    assert not (root / "docker-compose.yml").exists()


def test_a_thread_that_ends_within_the_timeout_is_waited_for(tmp_path):
    code = (
        "import threading, time, pathlib\n"
        "def work():\n    time.sleep(0.5)\n    (pathlib.Path(__file__).parent / 'done').write_text('yes')\n"
        "threading.Thread(target=work, daemon=False).start()\n"
    )
    root = _project(tmp_path / "p", APP + code)
    result = run_cli("build", "-C", str(root))
    assert result.code == 0, result.err
    assert (root / "done").read_text() == "yes"
