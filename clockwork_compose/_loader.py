"""Find and run a project's main.py, and collect the resources it declares.

main.py is the user's code, run in this process: anything it does while loading must end
as one clear error, never as a hang, a traceback or a silent exit. So it runs in a thread
that the caller waits for, at most ``load_timeout()`` seconds (a thread rather than a child
process: no second interpreter start-up, and the declared objects need no pickling);
``os._exit`` is refused while it runs; and whatever it prints goes to stderr, so that data
printed on stdout (``assert --json``, ``plan --format json``) stays valid.
"""

from __future__ import annotations

import contextlib
import math
import os
import runpy
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from ._declarations import DockerResource, collecting
from ._errors import ClockworkError, DeclarationError, LoadError

MAIN = "main.py"
#: Seconds main.py may take to load; the variable (or ``--load-timeout``) changes it, 0 waits forever.
DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV = "CLOCKWORK_LOAD_TIMEOUT"
#: A main.py in a parent folder counts only when it uses clockwork: others are not ours to run.
_MARKER = "clockwork_compose"


def load_timeout(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds main.py may take to load (``None``: no limit), from CLOCKWORK_LOAD_TIMEOUT."""
    raw = (os.environ if environ is None else environ).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise DeclarationError(
            None, TIMEOUT_ENV, f"{raw!r} is not a number of seconds", f"set {TIMEOUT_ENV}=120, or 0 for no limit"
        )
    return value or None


def find_project(start: Path) -> Path:
    """The folder to work on when none is given: ``start`` when it holds main.py, else the
    nearest parent whose main.py imports clockwork_compose (as git and Compose look up);
    ``start`` when there is none, so that the error names the folder the user is in."""
    if (start / MAIN).is_file():
        return start
    for folder in start.resolve().parents:
        main = folder / MAIN
        with contextlib.suppress(OSError):
            if main.is_file() and _MARKER in main.read_text(encoding="utf-8", errors="replace"):
                return folder
    return start


def load(project_dir: Path, timeout: float | None = -1.0) -> list[DockerResource]:
    """Run ``project_dir/main.py`` and return the resources it declared.

    ``timeout``: seconds to wait (``None``: no limit; negative: ``load_timeout()``)."""
    main = project_dir / MAIN
    if not project_dir.is_dir():
        raise LoadError(None, None, f"{project_dir} is not a folder", "pass -C with the folder that holds main.py")
    if not main.is_file():
        raise LoadError(None, None, f"no main.py in {project_dir}", "create main.py there, or pass -C with its folder")
    if timeout is not None and timeout < 0:
        timeout = load_timeout()
    sys.path.insert(0, str(project_dir))
    try:
        with _stdout_to_stderr(), _exit_refused():
            return _run(main, timeout)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(project_dir))


class _ExitCalled(BaseException):
    """main.py called ``os._exit``: refused while it loads."""

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


def _run(main: Path, timeout: float | None) -> list[DockerResource]:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            with collecting() as found:
                runpy.run_path(str(main), run_name="__clockwork__")
            outcome["found"] = found
        except BaseException as exc:  # everything main.py does ends as an error of ours
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="clockwork-main.py", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        line = _line_running(thread, main)
        where = f"main.py (at line {line})" if line else "main.py"
        raise LoadError(
            None,
            None,
            f"{where} did not finish loading within {timeout:g}s (does it wait for input, the network or a lock?)",
            f"let main.py only declare resources, or allow more with --load-timeout SECONDS or {TIMEOUT_ENV} "
            "(0: no limit)",
        )
    if "error" in outcome:
        raise _load_error(outcome["error"], main)
    return outcome["found"]


def _load_error(exc: BaseException, main: Path) -> ClockworkError:
    if isinstance(exc, ClockworkError):
        return exc
    if isinstance(exc, SyntaxError):
        return LoadError(
            None, None, f"main.py line {exc.lineno}: invalid syntax ({exc.msg})", "fix the syntax of main.py"
        )
    if isinstance(exc, SystemExit | _ExitCalled):
        call = "sys.exit" if isinstance(exc, SystemExit) else "os._exit"
        return LoadError(
            None, None, f"main.py called {call}({exc.code!r}) while loading", "declare resources and let main.py end"
        )
    line = _line_in_main(exc, main)
    where = f"main.py line {line}" if line else "main.py"
    problem = f"{where} raised {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
    error = LoadError(None, None, problem, "fix main.py")
    error.__cause__ = exc
    return error


def _line_in_main(exc: BaseException, main: Path) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == main:
            line = frame.lineno
    return line


def _line_running(thread: threading.Thread, main: Path) -> int | None:
    """The line of main.py that a thread still running it is on."""
    frame: FrameType | None = sys._current_frames().get(thread.ident or -1)
    line = None
    while frame is not None:
        if Path(frame.f_code.co_filename) == main:
            line = frame.f_lineno
        frame = frame.f_back
    return line


@contextlib.contextmanager
def _exit_refused() -> Iterator[None]:
    """``os._exit`` would end clockwork without a word: while main.py loads, it raises."""

    def refuse(code: int = 0) -> None:
        raise _ExitCalled(code)

    real = os._exit
    os._exit = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """main.py's output, from Python and from processes it starts, goes to stderr."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    saved = None
    with contextlib.suppress(OSError):
        saved = os.dup(1)
        os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
