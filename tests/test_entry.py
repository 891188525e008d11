"""`clockwork build` without typer (``_entry``): the same messages, exit codes and files as
the typer command, and typer left unimported."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import HEADER

from clockwork_compose._entry import plain_build

#: The typer app itself, as `clockwork` ran it before ``_entry``.
TYPER = "import sys; sys.argv[0] = 'clockwork'; from clockwork_compose._cli import run; run()"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["build"], {}),
        (["build", "-C", "x"], {"project_dir": "x"}),
        (["build", "--project-dir=x", "-o", "f.yml"], {"project_dir": "x", "output": "f.yml"}),
        (["build", "--output", "f.yml", "-t", "swarm"], {"output": "f.yml", "target": "swarm"}),
        (["build", "--target=kubernetes"], {"target": "kubernetes"}),
    ],
)
def test_a_plain_build_is_read_here(argv, expected):
    assert plain_build(argv, {}) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["plan"],
        ["-C", "x", "build"],  # an option of the app, before the command
        ["--debug", "build"],
        ["build", "--check"],
        ["build", "-h"],
        ["build", "--help"],
        ["build", "-C"],  # no value: typer says so
        ["build", "-C", ""],
        ["build", "--project-dir="],
        ["build", "-C", "--check"],  # a value that looks like an option
        ["build", "-C", "a", "-C", "b"],  # twice
        ["build", "-Cx"],  # glued
        ["build", "-C=x"],
        ["build", "--target", "Compose"],  # typer names the choices
        ["build", "--target", "helm"],
        ["build", "extra"],
        ["build", "--", "-C"],
    ],
)
def test_any_other_command_line_goes_to_typer(argv):
    assert plain_build(argv, {}) is None


@pytest.mark.parametrize("variable", ["CLOCKWORK_LOAD_TIMEOUT", "_CLOCKWORK_COMPLETE"])
def test_variables_typer_reads_send_the_build_to_typer(variable):
    assert plain_build(["build"], {variable: "1"}) is None


PROJECT = """
    db = DockerResource(name="db", image="postgres:15-alpine",
                        env_vars={"POSTGRES_PASSWORD": "plain"})  # pragma: allowlist secret
    app = DockerResource(name="app", image="nginx:1.25", ports=["8080:80"])
    app.connect(DatabaseConnection(to_resource=db, username="u", password=Secret("DB_PASSWORD"),
                                   database_name="d"))
"""
BAD = 'DockerResource(name="x", image="nginx", ports=[8080])\n'
RAISES = 'raise RuntimeError("boom")\n'

CASES = {
    "writes": (PROJECT, ".", ["build", "-C", "demo"], 2),
    "in the folder": (PROJECT, "demo", ["build"], 1),
    "in a subfolder": (PROJECT, "demo/sub", ["build"], 1),
    "swarm": (PROJECT, ".", ["build", "--target", "swarm", "-C", "demo"], 1),
    "kubernetes": (PROJECT, ".", ["build", "-t", "kubernetes", "--project-dir=demo"], 1),
    "output": (PROJECT, "demo", ["build", "--target=compose", "-o", "out/compose.yml"], 1),
    "output over main.py": (PROJECT, ".", ["build", "-C", "demo", "-o", "demo/main.py"], 1),
    "no folder": (PROJECT, ".", ["build", "-C", "missing"], 1),
    "bad declaration": (BAD, ".", ["build", "-C", "demo"], 1),
    "main.py raises": (RAISES, "demo", ["build"], 1),
}


def _outcome(root: Path, command: list[str], cwd: str, argv: list[str]) -> tuple[int, str, str, dict[str, bytes]]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root)}
    proc = subprocess.run([*command, *argv], cwd=root / cwd, capture_output=True, text=True, env=env, timeout=120)
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    return proc.returncode, proc.stdout, proc.stderr.replace(str(root), "<root>"), files


@pytest.mark.parametrize("case", CASES)
def test_a_build_run_without_typer_says_and_writes_what_the_typer_command_does(tmp_path, case):
    main, cwd, argv, runs = CASES[case]
    results = []
    commands = {"fast": [sys.executable, "-m", "clockwork_compose"], "typer": [sys.executable, "-c", TYPER]}
    for name, command in commands.items():
        root = tmp_path / name
        (root / "demo" / "sub").mkdir(parents=True)
        (root / "demo" / "main.py").write_text(HEADER + textwrap.dedent(main), encoding="utf-8")
        results.append([_outcome(root, command, cwd, argv) for _ in range(runs)])
    fast, typer = results
    assert fast == typer
    code, _, err, _ = fast[0]
    assert err.strip()  # every build says something: what it wrote, or the error
    assert (code == 0) == (case not in {"output over main.py", "no folder", "bad declaration", "main.py raises"})


def test_a_build_with_a_migrator_imports_neither_typer_nor_jinja2_nor_what_runs_a_stack(tmp_path):
    project = tmp_path / "demo"
    project.mkdir()
    main = PROJECT.replace('database_name="d"', 'database_name="d", migrations_dir="m"')
    (project / "main.py").write_text(HEADER + textwrap.dedent(main), encoding="utf-8")
    shutil.copytree(Path(__file__).parent.parent / "examples" / "connected-services" / "migrations", project / "m")
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['clockwork', 'build', '-C', {str(project)!r}]\n"
        "runpy.run_module('clockwork_compose', run_name='__main__')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'rich', 'jinja2'}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('clockwork_compose.') and m.rsplit('.', 1)[-1]"
        " in {'base', 'runtime', 'observe', '_docker', '_assertions', '_history'}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["[]", "[]"]  # the runtime's modules, reports included
    assert "1 migrator)" in proc.stderr and "clockwork-migrate" in (project / "docker-compose.yml").read_text()


def test_a_bug_in_a_build_run_without_typer_is_reported_as_the_typer_command_reports_it(tmp_path):
    broken = "from clockwork_compose import _api\n_api.build = lambda *a, **k: {}['no such key']\n"
    runs = {
        "fast": broken + "from clockwork_compose._entry import main\nmain()\n",
        "typer": broken + "from clockwork_compose._cli import run\nrun()\n",
    }
    results = {}
    for name, code in runs.items():
        proc = subprocess.run(
            [sys.executable, "-c", f"import sys; sys.argv[0] = 'clockwork'\n{code}", "build", "-C", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        results[name] = (proc.returncode, proc.stdout, proc.stderr)
    assert results["fast"] == results["typer"]
    code, _, err = results["fast"]
    assert code == 70 and err.startswith("internal error: KeyError: 'no such key' (")


def _build_loads_schema(project: Path) -> tuple[int, str, bool]:
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['clockwork', 'build', '-C', {str(project)!r}]\n"
        "try:\n"
        "    runpy.run_module('clockwork_compose', run_name='__main__')\n"
        "finally:\n"
        "    print('jsonschema_rs' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stderr, proc.stdout.split()[-1] == "True"


def test_the_schema_checks_what_build_writes_and_not_the_same_bytes_again(tmp_path):
    project = tmp_path / "demo"
    project.mkdir()
    (project / "main.py").write_text(HEADER + textwrap.dedent(PROJECT), encoding="utf-8")
    written = project / "docker-compose.yml"

    assert _build_loads_schema(project)[::2] == (0, True)  # new: checked, then written
    text = written.read_bytes()
    assert _build_loads_schema(project)[::2] == (0, False)  # the same bytes: checked when written

    written.write_bytes(text.replace(b"nginx:1.25", b"nginx:1.24"))  # as an older main.py left it
    assert _build_loads_schema(project)[::2] == (0, True)
    assert written.read_bytes() == text

    (project / "main.py").write_text(
        HEADER + textwrap.dedent(PROJECT) + "DockerResource(name='odd', image='nginx', compose={'no_such_key': 1})\n",
        encoding="utf-8",
    )
    code, err, loaded = _build_loads_schema(project)
    assert (code, loaded) == (2, True)
    assert "the Compose specification rejects it" in err and "no_such_key" in err
    assert written.read_bytes() == text  # nothing written


#: A main.py that leaves a file open and unflushed where it lives until the process ends:
#: Python's teardown closes it, and so must an exit without the teardown.
LEFT_OPEN = """
    import builtins
    builtins.clockwork_left_open = open("left-open.txt", "w")
    builtins.clockwork_left_open.write("written by main.py")
    DockerResource(name="web", image="nginx:1.25")
"""
#: The same file in a reference cycle (main.py's function refers to its globals): collected
#: at exit, file and buffer in one pass, it would be closed unflushed unless flushed first.
IN_A_CYCLE = """
    log = open("left-open.txt", "w")
    log.write("written by main.py")
    def cycle():
        return log
    DockerResource(name="web", image="nginx:1.25")
"""


@pytest.mark.parametrize(
    ("main", "argv", "code"),
    [
        (LEFT_OPEN, ["build"], 0),
        (IN_A_CYCLE, ["build"], 0),
        (LEFT_OPEN, ["build", "--check"], 1),  # typer's path, and a status other than 0
        (BAD, ["build"], 2),
        (LEFT_OPEN, ["plan", "--no-such-option"], 2),  # click's usage error
    ],
    ids=["build", "cycle", "check", "bad declaration", "usage error"],
)
def test_the_command_ends_as_python_would_without_its_teardown(tmp_path, main, argv, code):
    """`clockwork` skips the teardown at exit (run): the status, the output and what main.py
    wrote are what Python's own exit gives them (the typer app run as before)."""
    results = []
    commands = {"run": [sys.executable, "-m", "clockwork_compose"], "typer": [sys.executable, "-c", TYPER]}
    for name, command in commands.items():
        root = tmp_path / name
        (root / "demo").mkdir(parents=True)
        (root / "demo" / "main.py").write_text(HEADER + textwrap.dedent(main), encoding="utf-8")
        results.append(_outcome(root, command, "demo", argv))
    ran, typer = results
    assert ran == typer
    assert ran[0] == code
    if main is not BAD and "--no-such-option" not in argv:
        assert ran[3]["demo/left-open.txt"] == b"written by main.py"


def test_nothing_registers_an_exit_handler_before_the_command_does():
    """run's handler ends the process, so it must run last: registered first, as atexit runs
    the last registered first. Importing the entry point registers none before it."""
    probe = "import atexit, clockwork_compose._entry; print(atexit._ncallbacks())"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "0", proc.stderr


def test_output_printed_after_the_command_still_reaches_the_reader(tmp_path):
    """What is printed after the command (by an exit handler registered later) is flushed."""
    (tmp_path / "main.py").write_text(HEADER + 'DockerResource(name="web", image="nginx:1.25")\n', encoding="utf-8")
    probe = (
        "import atexit, runpy, sys\n"
        f"sys.argv = ['clockwork', 'build', '-C', {str(tmp_path)!r}]\n"
        "try:\n"
        "    runpy.run_module('clockwork_compose', run_name='__main__')\n"
        "finally:\n"
        "    atexit.register(print, 'after', end='')\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (0, "after")
