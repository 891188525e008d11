"""The exceptions clockwork_compose raises, and what the CLI makes of them.

    ClockworkError                  base class; ``str(exc)`` is one line for the user
    ├── DeclarationError            bad declarations or usage: exit 2
    │   ├── LoadError               main.py missing, not valid Python, raised, exited or hung
    │   └── UnusableFile            a file clockwork reads or writes is a folder, not UTF-8
    │                               text, or not writable
    ├── CheckFailed                 `build --check` found a stale file: exit 1
    └── RuntimeFailure              the engine or a deployed service failed: exit 1
        └── EngineUnavailable       no engine answers, or Compose is not v2

Library code raises these and never prints or exits; ``_cli`` maps them to exit codes.
Anything else that reaches the CLI is a bug: "internal error", exit 70 (``--debug`` shows
the traceback).
Third-party errors are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class ClockworkError(Exception):
    """Base class of every error clockwork_compose raises on purpose."""

    exit_code = 1


class DeclarationError(ClockworkError):
    """A declaration is wrong: names the resource, the field and the fix."""

    exit_code = 2

    def __init__(self, resource: str | None, field: str | None, problem: str, fix: str) -> None:
        self.resource = resource
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.resource:
            where.append(f"resource {self.resource!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        text = f"{prefix}: {self.problem}" if prefix else self.problem
        text = f"{text}; {self.fix}" if self.fix else text
        # One line whatever the parts hold (an exception message from main.py may span lines).
        return " / ".join(line.strip() for line in text.splitlines() if line.strip())


class LoadError(DeclarationError):
    """main.py could not be loaded."""


class UnusableFile(DeclarationError):
    """A file clockwork must read or write cannot be used as it is; nothing was written."""

    def __init__(self, path: object, problem: str, fix: str) -> None:
        self.path = path
        super().__init__(None, None, f"{path} {problem}", fix)


class CheckFailed(ClockworkError):
    """A generated file is not what the declarations produce."""


class RuntimeFailure(ClockworkError):
    """Bringing the project up, checking it or tearing it down failed."""


class EngineUnavailable(RuntimeFailure):
    """No Docker engine answers, or its Compose is not v2."""
