"""Run a project's main.py and collect the resources it declares."""

from __future__ import annotations

import runpy
import sys
import traceback
from pathlib import Path

from ._declarations import DockerResource, collecting
from ._errors import ClockworkError, LoadError


def load(project_dir: Path) -> list[DockerResource]:
    main = project_dir / "main.py"
    if not project_dir.is_dir():
        raise LoadError(None, None, f"{project_dir} is not a folder", "pass -C with the folder that holds main.py")
    if not main.is_file():
        raise LoadError(None, None, f"no main.py in {project_dir}", "create main.py there, or pass -C with its folder")
    sys.path.insert(0, str(project_dir))
    try:
        with collecting() as found:
            runpy.run_path(str(main), run_name="__clockwork__")
    except ClockworkError:
        raise
    except SyntaxError as exc:
        raise LoadError(
            None, None, f"main.py line {exc.lineno}: invalid syntax ({exc.msg})", "fix the syntax of main.py"
        ) from None
    except SystemExit as exc:
        raise LoadError(
            None, None, f"main.py called sys.exit({exc.code!r}) while loading", "declare resources and let main.py end"
        ) from None
    except Exception as exc:  # anything main.py itself raised
        line = _line_in_main(exc, main)
        where = f"main.py line {line}" if line else "main.py"
        raise LoadError(None, None, f"{where} raised {type(exc).__name__}: {exc}", "fix main.py") from exc
    finally:
        sys.path.remove(str(project_dir))
    return found


def _line_in_main(exc: BaseException, main: Path) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == main:
            line = frame.lineno
    return line
