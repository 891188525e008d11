"""Find and run a project's main.py, and collect the resources it declares.

main.py is the user's code, run in this process: anything it does while loading must end
as one clear error, never as a hang, a traceback or a silent exit. So it runs in a thread
that the caller waits for, at most ``load_timeout()`` seconds (a thread rather than a child
process: no second interpreter start-up, and the declared objects need no pickling);
``os._exit`` is refused while it runs; and whatever it prints goes to stderr, so that data
printed on stdout (``assert --json``, ``plan --format json``) stays valid.

The timeout covers main.py until it would have exited as a program of its own: the exit
handlers its code registers (``atexit.register``) run in that thread right after it, and
the threads it started that Python would wait for at exit (not daemons) are waited for,
all within the same time. Otherwise they would run, or hang, when clockwork exits, after
the file was written. A load that does not finish cleanly is an error, so nothing is
written; a thread of main.py still running then is abandoned: ``left_running()`` tells the
CLI to end the process without waiting for it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import math
import os
import runpy
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
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
        with _stdout_to_stderr(), _exit_refused(), _exit_handlers_kept(project_dir.resolve()) as handlers:
            return _run(main, timeout, handlers)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(project_dir))


#: Threads of main.py that a load gave up on (timed out, failed): the process must not wait for them.
_abandoned: list[threading.Thread] = []


def left_running() -> bool:
    """Whether a load gave up on a thread of main.py that still runs: then Python's own exit
    would wait for it, or run the exit handlers it registers meanwhile, maybe forever; the
    caller should end the process with os._exit."""
    return any(thread.is_alive() for thread in _abandoned)


class _ExitCalled(BaseException):
    """main.py called ``os._exit``: refused while it loads."""

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


_MORE_TIME = f"allow more with --load-timeout SECONDS or {TIMEOUT_ENV} (0: no limit)"


def _run(main: Path, timeout: float | None, handlers: list[_Handler]) -> list[DockerResource]:
    outcome: dict[str, Any] = {}
    before = set(threading.enumerate())

    def target() -> None:
        try:
            with collecting() as found:
                runpy.run_path(str(main), run_name="__clockwork__")
            outcome["found"] = found
            while handlers:  # last registered first, as atexit runs them
                outcome["handler"] = handler = handlers.pop()
                handler.function(*handler.args, **handler.kwargs)
            outcome.pop("handler", None)
        except BaseException as exc:  # everything main.py does ends as an error of ours
            outcome["error"] = exc

    deadline = None if timeout is None else time.monotonic() + timeout
    thread = threading.Thread(target=target, name="clockwork-main.py", daemon=True)
    thread.start()
    try:
        return _outcome(main, thread, outcome, before, deadline, timeout)
    except BaseException:  # timed out, failed or interrupted: main.py's threads are abandoned
        _abandoned.extend(t for t in set(threading.enumerate()) - before if t is thread or not t.daemon)
        raise


def _outcome(
    main: Path,
    thread: threading.Thread,
    outcome: dict[str, Any],
    before: set[threading.Thread],
    deadline: float | None,
    timeout: float | None,
) -> list[DockerResource]:
    """Wait for ``thread`` running main.py; its declarations, or the LoadError it ends in."""
    thread.join(timeout)
    if thread.is_alive():
        line = _line_running(thread, main)
        where = f"main.py (at line {line})" if line else "main.py"
        if "handler" in outcome:
            raise LoadError(
                None,
                None,
                f"{where}: its exit handler {_name(outcome['handler'].function)} did not end within {timeout:g}s "
                "(it runs when main.py ends, as atexit would run it)",
                f"let main.py only declare resources: register no slow exit handler, or {_MORE_TIME}",
            )
        raise LoadError(
            None,
            None,
            f"{where} did not finish loading within {timeout:g}s (does it wait for input, the network or a lock?)",
            f"let main.py only declare resources, or {_MORE_TIME}",
        )
    if "error" in outcome:
        if "handler" in outcome:
            exc = outcome["error"]
            raise LoadError(
                None,
                None,
                f"main.py's exit handler {_name(outcome['handler'].function)} raised {type(exc).__name__}"
                + (f": {exc}" if str(exc) else ""),
                "fix or remove that atexit handler",
            ) from exc
        raise _load_error(outcome["error"], main)
    _wait_for_threads(set(threading.enumerate()) - before - {thread}, deadline, timeout)
    return outcome["found"]


def _wait_for_threads(started: set[threading.Thread], deadline: float | None, timeout: float | None) -> None:
    """Wait, until ``deadline``, for the threads main.py started that Python waits for at exit."""
    for thread in sorted(started, key=lambda t: t.name):
        if thread.daemon:
            continue
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            raise LoadError(
                None,
                None,
                f"main.py started thread {thread.name!r}, still running {timeout:g}s after main.py began loading "
                "(clockwork would wait for it to exit)",
                f"let main.py only declare resources: start no thread (or make it a daemon), or {_MORE_TIME}",
            )


def _name(function: Callable[..., object]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


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


class _Handler:
    """An exit handler main.py registered: what ``atexit.register`` was given."""

    def __init__(self, function: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        self.function, self.args, self.kwargs = function, args, kwargs


@functools.cache
def _libraries() -> frozenset[Path]:
    """Where installed code lives: a virtual environment may sit inside the project folder,
    and what is installed there is a library, not the project's own code."""
    return frozenset(Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "purelib", "platlib"))


@contextlib.contextmanager
def _exit_handlers_kept(project_dir: Path) -> Iterator[list[_Handler]]:
    """While main.py loads, the exit handlers its own code (main.py and modules in its folder)
    registers are kept aside, to run when main.py ends, not when clockwork does. Libraries it
    imports register theirs with atexit as usual: they belong to the whole process."""
    kept: list[_Handler] = []
    real_register, real_unregister = atexit.register, atexit.unregister

    def register(function: Callable[..., object], *args: object, **kwargs: object) -> Callable[..., object]:
        with contextlib.suppress(OSError, ValueError):
            caller = Path(sys._getframe(1).f_code.co_filename).resolve()
            if caller.is_relative_to(project_dir) and not any(caller.is_relative_to(lib) for lib in _libraries()):
                kept.append(_Handler(function, args, kwargs))
                return function
        return real_register(function, *args, **kwargs)

    def unregister(function: Callable[..., object]) -> None:
        kept[:] = [handler for handler in kept if handler.function != function]
        real_unregister(function)

    atexit.register, atexit.unregister = register, unregister  # type: ignore[assignment]
    try:
        yield kept
    finally:
        atexit.register, atexit.unregister = real_register, real_unregister  # type: ignore[assignment]


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
