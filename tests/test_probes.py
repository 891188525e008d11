"""Readiness probes: declarations, what lowering makes of them, and the generated scripts
run for real under /bin/sh with only one tool on PATH (curl, GNU wget, busybox wget,
python), against a local HTTP server and TCP listener."""

from __future__ import annotations

import errno
import http.server
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _compile import compile_dir
from support import EXAMPLE, HEADER, run_cli

from clockwork_compose import CommandProbe, DockerResource, HealthCheck, HttpProbe, TcpProbe, _assertions
from clockwork_compose._errors import DeclarationError
from clockwork_compose._probes import http_script, tcp_script

SH = shutil.which("dash") or "/bin/sh"

# -- declarations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "field", "fix"),
    [
        (lambda: HttpProbe("health"), "path", 'start with "/"'),
        (lambda: HttpProbe("/a b"), "path", "percent-encode"),
        (lambda: HttpProbe("/$(reboot)"), "path", "URL characters"),
        (lambda: HttpProbe("/", port=70000), "port", "number"),
        (lambda: HttpProbe("/", status=42), "status", "number"),
        (lambda: TcpProbe(0), "port", "number"),
        (lambda: CommandProbe([]), "command", "program"),
        (lambda: CommandProbe("  "), "command", "program"),
        (lambda: HttpProbe("/", retries=0), "retries", "number"),
        (lambda: DockerResource(name="api", image="x:1", readiness="/health"), "readiness", "HttpProbe("),
    ],
)
def test_bad_probe_is_one_line_naming_field_and_fix(make, field, fix):
    with pytest.raises(DeclarationError) as caught:
        make()
    message = str(caught.value)
    assert f"field {field!r}" in message and fix in message and "\n" not in message


def test_healthcheck_and_readiness_together_is_an_error():
    with pytest.raises(DeclarationError, match="resource 'api': both healthcheck and readiness are set; keep one"):
        DockerResource(name="api", image="x:1", healthcheck=HealthCheck(test="true"), readiness=TcpProbe(80))


# -- lowering -------------------------------------------------------------------------------


def _project(tmp_path: Path, body: str, files: dict[str, str] | None = None):
    (tmp_path / "main.py").write_text(HEADER + textwrap.dedent(body))
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return compile_dir(tmp_path)


def test_http_probe_becomes_a_shell_healthcheck_and_dependants_wait_for_healthy(tmp_path):
    project, _, doc = _project(
        tmp_path,
        """
        api = DockerResource(name="api", image="x/api:1", ports=["8080:80"],
                             readiness=HttpProbe("/health", status=204, interval=2, retries=5))
        web = DockerResource(name="web", image="x/web:1").connect(api)
        """,
    )
    hc = doc["services"]["api"]["healthcheck"]
    assert hc["test"][0] == "CMD-SHELL"
    assert "http://127.0.0.1:80/health" in hc["test"][1]  # the container port, not the host's
    assert "204" in hc["test"][1]
    # interval and retries time the start (5 probes 2 s apart); then one every 90 s.
    assert (hc["start_interval"], hc["start_period"]) == ("2s", "10s")
    assert (hc["interval"], hc["retries"]) == ("90s", 2)
    assert doc["services"]["web"]["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert project.services["api"].healthcheck is not None


def test_without_a_probe_dependants_only_wait_for_started(tmp_path):
    _, _, doc = _project(
        tmp_path,
        """
        api = DockerResource(name="api", image="x/api:1", ports=["8080:80"])
        web = DockerResource(name="web", image="x/web:1").connect(api)
        """,
    )
    assert "healthcheck" not in doc["services"]["api"]
    assert doc["services"]["web"]["depends_on"] == {"api": {"condition": "service_started"}}


def test_command_probe_list_runs_without_a_shell_and_string_with_one(tmp_path):
    _, _, doc = _project(
        tmp_path,
        """
        a = DockerResource(name="aa", image="x/a:1", readiness=CommandProbe(["/bin/check", "--ready"]))
        b = DockerResource(name="bb", image="x/b:1", readiness=CommandProbe("test -f /tmp/ready"))
        """,
    )
    assert doc["services"]["aa"]["healthcheck"]["test"] == ["CMD", "/bin/check", "--ready"]
    assert doc["services"]["bb"]["healthcheck"]["test"] == ["CMD-SHELL", "test -f /tmp/ready"]


def test_probe_port_defaults_to_the_first_container_port_and_is_required(tmp_path):
    _, _, doc = _project(
        tmp_path, 'a = DockerResource(name="aa", image="x/a:1", ports=["9000:7000"], readiness=TcpProbe())\n'
    )
    assert "/dev/tcp/127.0.0.1/7000" in doc["services"]["aa"]["healthcheck"]["test"][1]
    with pytest.raises(
        DeclarationError, match="resource 'bb', field 'readiness': TcpProbe needs a port.*TcpProbe\\(8080\\)"
    ):
        _project(tmp_path, 'b = DockerResource(name="bb", image="x/b:1", readiness=TcpProbe())\n')


def test_the_old_healthcheck_keeps_working(tmp_path):
    _, _, doc = _project(
        tmp_path, 'a = DockerResource(name="aa", image="x/a:1", healthcheck=HealthCheck(test="true"))\n'
    )
    assert doc["services"]["aa"]["healthcheck"]["test"] == ["CMD-SHELL", "true"]


def test_build_warns_when_the_image_has_no_shell(tmp_path):
    project, _, _ = _project(
        tmp_path,
        """
        a = DockerResource(name="aa", image="gcr.io/distroless/static:nonroot", ports=["80"], readiness=HttpProbe("/"))
        b = DockerResource(name="bb", ports=["80"], readiness=TcpProbe())
        c = DockerResource(name="cc", image="scratch", readiness=CommandProbe(["/app", "health"]))
        d = DockerResource(name="dd", image="python:3.12-slim", ports=["80"], readiness=HttpProbe("/"))
        """,
        {"bb/Dockerfile": "FROM golang:1.22 AS build\nRUN go build\nFROM scratch\nCOPY --from=build /app /app\n"},
    )
    warned = {w.split(":", 1)[0]: w for w in project.warnings if "no shell" in w}
    assert sorted(warned) == ["aa", "bb"]  # cc's exec-form command needs no shell; dd has one
    assert "'gcr.io/distroless/static:nonroot' has no shell" in warned["aa"]
    assert "Dockerfile's last stage ('scratch')" in warned["bb"] and "CommandProbe" in warned["bb"]


def test_example_api_server_declares_its_health_and_worker_has_no_probe():
    project, _, doc = compile_dir(EXAMPLE)
    assert "http://127.0.0.1:80/health" in doc["services"]["api-server"]["healthcheck"]["test"][1]
    assert project.services["worker-service"].healthcheck is None


def test_a_bad_probe_in_main_py_exits_2_and_writes_nothing(tmp_path):
    (tmp_path / "main.py").write_text(
        HEADER + 'a = DockerResource(name="aa", image="x:1", readiness=HttpProbe("up"))\n'
    )
    result = run_cli("build", "-C", str(tmp_path))
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and "field 'path'" in result.err
    assert not (tmp_path / "docker-compose.yml").exists()


# -- the generated scripts, run for real ------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/health": 200, "/teapot": 418, "/down": 503}.get(self.path.split("?")[0], 404)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()


def _python() -> str:
    return os.path.realpath(sys.executable)


#: What each image kind has on PATH: name in the bin folder -> the program it runs.
TOOLBOXES = {
    "curl": {"curl": shutil.which("curl")},
    "gnu-wget": {"wget": shutil.which("wget"), "grep": shutil.which("grep")},
    "busybox-wget": {"wget": shutil.which("busybox"), "grep": shutil.which("busybox")},
    "python3-only": {"python3": _python()},
    "python-only": {"python": _python()},
    "bash": {"bash": shutil.which("bash")},
    "nothing": {},
}


def _run(script: str, toolbox: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    tools = TOOLBOXES[toolbox]
    if any(target is None for target in tools.values()):
        pytest.skip(f"{toolbox}: not on this machine")
    bin_dir = tmp_path / toolbox
    bin_dir.mkdir(exist_ok=True)
    for name, target in tools.items():
        if not (bin_dir / name).exists():
            (bin_dir / name).symlink_to(target)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return subprocess.run([SH, "-c", script], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("toolbox", ["curl", "gnu-wget", "busybox-wget", "python3-only", "python-only"])
def test_http_script_passes_only_on_the_expected_status(toolbox, server, tmp_path):
    def ok(path: str, status: int = 200) -> bool:
        result = _run(http_script(HttpProbe(path, status=status), server), toolbox, tmp_path)
        return result.returncode == 0

    assert ok("/health")
    assert ok("/teapot", status=418)
    assert not ok("/down")
    assert not ok("/teapot")
    assert not ok("/health", status=204)


@pytest.mark.parametrize("toolbox", ["curl", "gnu-wget", "busybox-wget", "python3-only", "python-only"])
def test_http_script_fails_when_nothing_listens_saying_so_in_one_line(toolbox, tmp_path):
    """Docker keeps what the probe printed as the healthcheck's output; apply shows it."""
    closed = _closed_port()
    result = _run(http_script(HttpProbe("/health"), closed), toolbox, tmp_path)
    assert result.returncode == 1
    said = _said(result)
    assert len(said) == 1, said
    assert f"{closed}" in said[0] and ("refused" in said[0] or "Couldn't connect" in said[0]), said


@pytest.mark.parametrize("toolbox", ["curl", "gnu-wget", "busybox-wget", "python3-only", "python-only"])
def test_http_script_says_which_status_it_got_and_wanted(toolbox, server, tmp_path):
    for path, status, got in (("/down", 200, 503), ("/health", 204, 200)):
        result = _run(http_script(HttpProbe(path, status=status), server), toolbox, tmp_path)
        assert result.returncode == 1
        assert _said(result) == [f"GET http://127.0.0.1:{server}{path} answered {got}, expected {status}"], toolbox


def _said(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines the probe printed, stdout and stderr together, as Docker records them."""
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


# Not busybox's nc: Debian's build has no -z (Alpine's has); README says TCP needs bash,
# python or an nc with -z.
@pytest.mark.parametrize("toolbox", ["bash", "python3-only", "python-only"])
def test_tcp_script_passes_only_with_a_listener(toolbox, tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert _run(tcp_script(port, 3), toolbox, tmp_path).returncode == 0
    closed = _closed_port()
    result = _run(tcp_script(closed, 3), toolbox, tmp_path)
    assert result.returncode == 1
    assert _said(result) == [f"connect to 127.0.0.1:{closed}: " + _refused(toolbox)], toolbox


def _refused(toolbox: str) -> str:
    return "Connection refused" if toolbox == "bash" else "[Errno 111] Connection refused"


def test_scripts_say_what_is_missing_in_an_image_with_no_tool(server, tmp_path):
    for script in (http_script(HttpProbe("/health"), server), tcp_script(server, 3)):
        result = _run(script, "nothing", tmp_path)
        assert result.returncode == 1
        assert "clockwork readiness probe: the image has none of" in result.stderr


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- assert's port check: a process must accept, not just Docker's port proxy ------------------


def _serve_once(behaviour: str) -> tuple[int, threading.Thread]:
    """A listener that accepts one connection and then closes it, resets it or greets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def handle() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                if behaviour == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif behaviour == "greet":
                    conn.sendall(b"220 hello\r\n")
                    time.sleep(1)

    thread = threading.Thread(target=handle, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


@pytest.mark.parametrize(
    ("behaviour", "passed", "detail"),
    [
        ("close", False, "closed at once: published, but nothing listens in the container"),
        ("reset", False, "at once: published, but nothing listens in the container"),
        ("greet", True, "connected, the server spoke first"),
    ],
)
def test_port_check_fails_on_an_immediate_close_or_reset(behaviour, passed, detail):
    port, thread = _serve_once(behaviour)
    outcome = _assertions.tcp_open("127.0.0.1", port)
    thread.join(5)
    assert outcome.passed is passed and detail in outcome.detail


def test_port_check_passes_when_the_connection_is_held_open():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # the kernel accepts; nobody speaks or closes: a real listener
        outcome = _assertions.tcp_open("127.0.0.1", server.getsockname()[1])
    assert outcome == _assertions.Outcome(True, "connected, held open")


def test_plan_names_the_apps_without_a_readiness_probe():
    result = run_cli("plan", "-C", str(EXAMPLE))
    assert result.code == 0, result.err
    last = result.out.rstrip().splitlines()[-1]
    assert last.startswith("No readiness probe: worker-service (")  # api-server has its HttpProbe
    blocks = dict(re.findall(r"(?m)^  (\S+)  \[\w+\].*\n((?:      .*\n)*)", result.out))
    assert "no readiness probe: apply sees it running, never ready" in blocks["worker-service"]
    assert "no readiness probe" not in blocks["api-server"]


def test_a_reset_during_connect_gets_the_same_diagnosis(monkeypatch):
    """The proxy's reset can arrive before connect() returns (about 1 run in 10 of the [reset]
    case above): it is the same reset, not a bare "Connection reset by peer"."""

    def reset(*args, **kwargs):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(_assertions.socket, "create_connection", reset)
    outcome = _assertions.tcp_open("127.0.0.1", 9)
    assert outcome == _assertions.Outcome(
        False, "Connection reset by peer at once: published, but nothing listens in the container"
    )
