"""Typed readiness probes (HttpProbe, TcpProbe, CommandProbe) -> the model's typed
Healthcheck, and a typed healthcheck -> Docker's healthcheck command (``docker_test``).

An HTTP or TCP probe runs inside the container, where the image decides what exists: the
generated command is one ``/bin/sh`` script that uses the first tool it finds, so the same
probe works in images with curl, with busybox's wget, or with only python (the official
``python:*-slim`` images). It needs ``/bin/sh``: an image without a shell (``scratch``,
distroless) cannot run it, which ``no_shell`` tells at build time when the image says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from ._declarations import CommandProbe, HttpProbe, Probe, TcpProbe
from ._errors import DeclarationError
from ._model import Check, CommandCheck, EnvValue, Healthcheck, HttpCheck, ShellCheck, TcpCheck

#: Inside the container, the probe talks to the process itself, never through a proxy.
HOST = "127.0.0.1"
MISSING = "clockwork readiness probe: the image has none of {tools}; use CommandProbe with a program it has"


def healthcheck(probe: Probe, resource: str, container_ports: Sequence[int], rest: float) -> Healthcheck:
    """The probe as the model's typed healthcheck; ``container_ports`` give the default port;
    once ready it runs every ``rest`` seconds, unless the probe has its own ``rest_interval``."""
    check: Check
    if isinstance(probe, CommandProbe):
        check = ShellCheck(probe.command) if isinstance(probe.command, str) else CommandCheck(tuple(probe.command))
    else:
        port = probe.port if probe.port is not None else _first_port(probe, resource, container_ports)
        check = HttpCheck(port, probe.path, probe.status) if isinstance(probe, HttpProbe) else TcpCheck(port)
    rest_interval = probe.rest_interval or rest
    return Healthcheck(check, probe.interval, probe.timeout, probe.retries, probe.start_period, rest_interval)


def docker_test(hc: Healthcheck) -> tuple[EnvValue, ...]:
    """A typed healthcheck as Docker's healthcheck ``test`` (CMD or CMD-SHELL), for the
    targets that run Docker healthchecks (Compose, Swarm)."""
    check = hc.check
    if isinstance(check, CommandCheck):
        return ("CMD", *check.argv)
    if isinstance(check, ShellCheck):
        return ("CMD-SHELL", check.script)
    if isinstance(check, HttpCheck):
        probe = HttpProbe(check.path, port=check.port, status=check.status, timeout=hc.timeout)
        return ("CMD-SHELL", http_script(probe, check.port))
    return ("CMD-SHELL", tcp_script(check.port, hc.timeout))


def _first_port(probe: HttpProbe | TcpProbe, resource: str, container_ports: Sequence[int]) -> int:
    if not container_ports:
        example = 'HttpProbe("/health", port=8080)' if isinstance(probe, HttpProbe) else "TcpProbe(8080)"
        raise DeclarationError(
            resource,
            "readiness",
            f"{type(probe).__name__} needs a port and the resource has no ports",
            f"give {example}",
        )
    return container_ports[0]


def http_script(probe: HttpProbe, port: int) -> str:
    """curl, else wget (GNU or busybox), else python3/python: the answer's status must match.

    When it does not, the probe prints one line saying what went wrong (curl's own error,
    wget's last line, or python's exception: "Connection refused" on that port; or the
    status it got), which Docker keeps as the healthcheck's output and apply shows. wget
    gets no -T: busybox 1.35 (Debian 12) crashes with it; Docker's own healthcheck timeout
    ends a hung attempt anyway. Only sh builtins besides the tool and grep are used."""
    url = f"http://{HOST}:{port}{probe.path}"
    seconds = max(1, math.ceil(probe.timeout))
    status = probe.status
    wrong = f"GET {url} answered $s, expected {status}"
    python = (
        f'import sys,urllib.request as r;u="{url}";'
        'sys.excepthook=lambda t,e,b:print("GET %s: %s"%(u,getattr(e,"reason",e)));'
        'o=r.build_opener(type("H",(r.HTTPErrorProcessor,),{"http_response":lambda s,q,p:p}));'
        f"s=o.open(u,timeout={seconds}).status;"
        f's=={status} or sys.exit("GET %s answered %d, expected {status}"%(u,s))'
    )
    return _first_of(
        [
            (
                "curl",
                f"s=$(curl -sS -o /dev/null -m {seconds} -w '%{{http_code}}' '{url}') || exit 1; "
                f'[ "$s" = {status} ] || {{ echo "{wrong}"; exit 1; }}',
            ),
            (
                "wget",
                # The last status line (after redirects) must match; else that status, or
                # wget's last line ("failed: Connection refused.", "can't connect ...").
                f"o=$(wget -S -O /dev/null '{url}' 2>&1); "
                "s=$(printf '%s\\n' \"$o\" | grep -oE 'HTTP/[0-9.]+ [0-9]+'); "
                f'{_NL}s=${{s##*"$nl"}}; s=${{s#* }}; [ "$s" = {status} ] && exit 0; '
                f'[ -n "$s" ] && echo "{wrong}" || echo "GET {url}: ${{o##*"$nl"}}"; exit 1',
            ),
            (_PYTHON, f"\"$py\" -c '{python}'"),
        ]
    )


def tcp_script(port: int, timeout: float) -> str:
    """bash's /dev/tcp, else python3/python, else nc -z; one line on failure, as for HTTP."""
    seconds = max(1, math.ceil(timeout))
    where = f"connect to {HOST}:{port}"
    python = (
        f'import socket,sys;sys.excepthook=lambda t,e,b:print("{where}: %s"%e);'
        f'socket.create_connection(("{HOST}",{port}),{seconds}).close()'
    )
    return _first_of(
        [
            # bash says it twice over two lines; its reason is what follows the last ": ".
            (
                "bash",
                f"o=$(bash -c 'exec 3<>/dev/tcp/{HOST}/{port}' 2>&1) || {{ echo \"{where}: ${{o##*: }}\"; exit 1; }}",
            ),
            (_PYTHON, f"\"$py\" -c '{python}'"),
            ("nc", f'nc -z -w {seconds} {HOST} {port} || {{ echo "{where}: refused or no answer (nc -z)"; exit 1; }}'),
        ]
    )


#: A newline in $nl, for ${var##*"$nl"} (the last line) with sh builtins only.
_NL = "nl=$(printf '\\n_'); nl=${nl%_}; "


#: python3, else python (python:*-slim images have both; some only one).
_PYTHON = "python"


def _first_of(choices: Sequence[tuple[str, str]]) -> str:
    """One POSIX sh script that runs the command of the first tool on PATH."""
    branches = []
    for i, (tool, command) in enumerate(choices):
        found = (
            "py=$(command -v python3 || command -v python)" if tool == _PYTHON else f"command -v {tool} >/dev/null 2>&1"
        )
        branches.append(f"{'if' if i == 0 else 'elif'} {found}; then {command};")
    tools = ", ".join(tool for tool, _ in choices)
    return " ".join([*branches, f"else echo '{MISSING.format(tools=tools)}' >&2; exit 1; fi"])


#: Images known to have no /bin/sh: a shell-based probe cannot run in them.
_NO_SHELL = re.compile(r"^scratch(:|$)|distroless", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)", re.IGNORECASE | re.MULTILINE)


def no_shell(probe: Probe, image: str | None, dockerfile: Path | None) -> str | None:
    """Why ``probe`` cannot run in the image, when the declarations say so; else None."""
    if isinstance(probe, CommandProbe) and not isinstance(probe.command, str):
        return None  # exec form: needs only its program
    base = image
    if base is None and dockerfile is not None and dockerfile.is_file():
        stages = _FROM.findall(dockerfile.read_text(encoding="utf-8", errors="replace"))
        base = stages[-1] if stages else None
    if base is None or not _NO_SHELL.search(base):
        return None
    where = f"image {base!r}" if image else f"its Dockerfile's last stage ({base!r})"
    return (
        f"{type(probe).__name__} runs /bin/sh inside the container and {where} has no shell; "
        'give CommandProbe(["/path/to/program", ...]) with a program the image has'
    )
