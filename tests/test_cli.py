"""The `clockwork` command as a user runs it: real processes, exit codes, files on disk."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from support import EXAMPLE, run_cli

SIMPLE = """
db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": "pw"})
app = DockerResource(name="app", image="example/app:1", ports=["8080:8080"])
app.connect(DatabaseConnection(to_resource=db))
"""


def test_build_writes_the_file_and_a_second_build_changes_no_byte(make_project):
    root = make_project(SIMPLE)
    first = run_cli("build", "-C", str(root))
    assert first.code == 0, first.err
    assert "wrote" in first.err
    text = (root / "docker-compose.yml").read_bytes()
    mtime = (root / "docker-compose.yml").stat().st_mtime_ns
    second = run_cli("build", "-C", str(root))
    assert second.code == 0 and "unchanged" in second.err
    assert (root / "docker-compose.yml").read_bytes() == text
    assert (root / "docker-compose.yml").stat().st_mtime_ns == mtime


def test_build_in_the_current_folder(make_project):
    root = make_project(SIMPLE)
    assert run_cli("build", cwd=root).code == 0
    assert (root / "docker-compose.yml").is_file()


def test_check_passes_when_current_and_fails_with_a_diff_when_stale(make_project):
    root = make_project(SIMPLE)
    assert run_cli("build", "-C", str(root)).code == 0
    assert run_cli("build", "--check", "-C", str(root)).code == 0
    main = root / "main.py"
    main.write_text(main.read_text().replace("8080:8080", "9090:8080"))
    stale = run_cli("build", "--check", "-C", str(root))
    assert stale.code == 1
    assert "stale" in stale.err and '+      - "9090:8080"' in stale.err and '-      - "8080:8080"' in stale.err
    assert "9090" not in (root / "docker-compose.yml").read_text()  # --check writes nothing


def test_check_fails_when_the_file_is_missing(make_project):
    root = make_project(SIMPLE)
    result = run_cli("build", "--check", "-C", str(root))
    assert result.code == 1 and "missing" in result.err
    assert not (root / "docker-compose.yml").exists()


@pytest.mark.parametrize(
    ("target", "file"),
    [("compose", "docker-compose.yml"), ("swarm", "docker-stack.yml"), ("kubernetes", "kubernetes.yaml")],
)
def test_check_names_the_command_that_writes_that_targets_file(make_project, target, file):
    """A stale or missing file names the build that writes it: `clockwork build` writes
    only the compose file, so the Swarm and Kubernetes files need their --target."""
    root = make_project(SIMPLE)
    command = "clockwork build" if target == "compose" else f"clockwork build --target {target}"
    missing = run_cli("build", "--check", "--target", target, "-C", str(root))
    assert missing.code == 1 and f"{file} is missing: run `{command}`" in missing.err, missing.err
    assert run_cli(*command.split()[1:], "-C", str(root)).code == 0  # the command it names writes it
    assert run_cli("build", "--check", "--target", target, "-C", str(root)).code == 0
    main = root / "main.py"
    main.write_text(main.read_text().replace("example/app:1", "example/app:2"))
    stale = run_cli("build", "--check", "--target", target, "-C", str(root))
    assert stale.code == 1 and f"{file} is stale: run `{command}` and commit the result" in stale.err, stale.err
    elsewhere = run_cli("build", "--check", "--target", target, "-C", str(root), "-o", str(root / "out dir" / file))
    assert f"run `{command} -o '{root / 'out dir' / file}'`" in elsewhere.err, elsewhere.err


def test_check_on_the_committed_example():
    result = run_cli("build", "--check", "-C", str(EXAMPLE))
    assert result.code == 0, result.err


def test_check_tells_a_new_migration_makes_the_file_stale(tmp_path):
    project = tmp_path / "connected-services"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".env", "__pycache__"))
    (project / "migrations" / "004_new.sql").write_text("SELECT 1;\n")
    stale = run_cli("build", "--check", "-C", str(project))
    assert stale.code == 1 and "dev.clockwork.migrations" in stale.err, stale.err


def test_output_elsewhere_gets_paths_relative_to_it(tmp_path):
    project = tmp_path / "connected-services"
    shutil.copytree(EXAMPLE, project)
    out = tmp_path / "deploy" / "compose.yml"
    result = run_cli("build", "-C", str(project), "-o", str(out))
    assert result.code == 0, result.err
    text = out.read_text()
    assert 'source: "../connected-services/schema.sql"' in text or "source: ../connected-services/schema.sql" in text
    assert str(tmp_path) not in text


@pytest.mark.parametrize(
    ("main", "needle"),
    [
        ('DockerResource(name="app", imgae="x:1")', "'imgae'"),
        (
            'a = DockerResource(name="aa", image="x:1")\nb = DockerResource(name="bb", image="x:1")\n'
            "a.connect(b)\nb.connect(a)",
            "cycle",
        ),
        (
            'd = DockerResource(name="db", image="postgres:16")\na = DockerResource(name="app", image="x:1")\n'
            'a.connect(DatabaseConnection(to_resource=d, connection_string_template="pg://{usr}@{host}"))',
            "{usr}",
        ),
        (
            'd = DockerResource(name="db", image="postgres:16")\na = DockerResource(name="app", image="x:1")\n'
            'a.connect(DatabaseConnection(to_resource=d, schema_file="nope.sql"))',
            "nope.sql",
        ),
        (
            'd = DockerResource(name="db", image="postgres:16")\na = DockerResource(name="app", image="x:1")\n'
            'a.connect(DatabaseConnection(to_resource=d, migrations_dir="missing/"))',
            "missing/",
        ),
        ('DockerResource(name="app", image="x:1")\nDockerResource(name="app", image="y:1")', "unique"),
        ('DockerResource(name="app", image="x:1", ports=["99999:80"])', "out of range"),
        (
            'DockerResource(name="app", image="x:1", ports=["80:80"])\n'
            'DockerResource(name="web", image="x:1", ports=["80:8080"])',
            "already published",
        ),
    ],
    ids=["misspelled-field", "cycle", "placeholder", "schema-file", "migrations-dir", "duplicate", "port", "host-port"],
)
def test_bad_declarations_exit_2_with_one_line_and_leave_the_file(make_project, main, needle):
    root = make_project("app0 = DockerResource(name='first', image='x:1')\n")
    assert run_cli("build", "-C", str(root)).code == 0
    before = (root / "docker-compose.yml").read_bytes()
    (root / "main.py").write_text("from clockwork_compose import *\n" + main + "\n")
    result = run_cli("build", "-C", str(root))
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert needle in lines[0] and "Traceback" not in result.err
    assert (root / "docker-compose.yml").read_bytes() == before
    assert [p.name for p in root.iterdir() if p.name.endswith(".tmp")] == []


def test_debug_shows_the_traceback(make_project):
    root = make_project('DockerResource(name="app", imgae="x:1")\n')
    result = run_cli("--debug", "build", "-C", str(root))
    assert result.code != 0 and "Traceback" in result.err


def test_missing_main_py_is_a_usage_error(tmp_path):
    result = run_cli("build", "-C", str(tmp_path))
    assert result.code == 2 and "no main.py" in result.err


def test_plan_prints_layers_and_reasons():
    result = run_cli("plan", "-C", str(EXAMPLE))
    assert result.code == 0, result.err
    out = result.out
    assert out.index("Layer 1") < out.index("postgres-db ") < out.index("Layer 2") < out.index("Layer 3")
    layer3 = out[out.index("Layer 3") :]
    assert "api-server" in layer3
    assert "waits for postgres-db-migrator completed successfully  (schema and migrations)" in layer3
    assert "waits for redis-cache healthy  (REDIS_URL)" in layer3


# -- the CLI people expect -----------------------------------------------------------------------


def test_version():
    from clockwork_compose import __version__

    result = run_cli("--version")
    assert result.code == 0 and result.out.strip() == f"clockwork-compose {__version__}"


@pytest.mark.parametrize("command", [(), ("build",), ("plan",), ("apply",), ("assert",), ("destroy",)])
def test_h_is_help_too(command):
    short, long = run_cli(*command, "-h"), run_cli(*command, "--help")
    assert short.code == long.code == 0
    assert short.out == long.out and "Usage: clockwork" in short.out


@pytest.mark.parametrize("command", ["", "build", "plan", "apply", "assert", "destroy"])
def test_help_shows_defaults_and_no_type_placeholders_on_flags(command):
    out = " ".join(run_cli(*command.split(), "--help").out.split())
    assert "<bool>" not in out and "BOOLEAN" not in out
    if command in ("build", "plan", "apply", "assert", "destroy"):
        assert "-C, --project-dir DIR" in out and "[default: the current folder" in out
    if command == "build":
        assert "[default:DIR/docker-compose.yml]" in out.replace(" ", "")  # not eaten as markup
    if command == "plan":
        assert "[default: text]" in out
    if command in ("apply", "assert"):
        assert "--timeout SECONDS" in out and "[default: assert 15;" in out
    if command == "":
        assert "--version" in out and "default: 60" in out


def test_project_dir_before_or_after_the_subcommand(make_project, tmp_path):
    root = make_project(SIMPLE)
    assert run_cli("-C", str(root), "build", cwd=tmp_path).code == 0
    after = run_cli("build", "--check", "-C", str(root), cwd=tmp_path)
    before = run_cli("-C", str(root), "build", "--check", cwd=tmp_path)
    assert after.code == before.code == 0
    # Given both ways, the one after the subcommand wins.
    both = run_cli("-C", str(tmp_path / "nowhere"), "plan", "-C", str(root))
    assert both.code == 0 and "Layer 1" in both.out


def test_main_py_is_found_in_a_parent_folder(make_project):
    root = make_project(SIMPLE)
    deep = root / "src" / "pkg"
    deep.mkdir(parents=True)
    result = run_cli("build", cwd=deep)
    assert result.code == 0, result.err
    assert (root / "docker-compose.yml").is_file() and not (deep / "docker-compose.yml").exists()
    assert run_cli("plan", cwd=deep).out.startswith("Layer 1")


def test_a_parent_main_py_that_is_not_clockworks_is_not_run(tmp_path):
    (tmp_path / "main.py").write_text("raise SystemExit('someone else's program')\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    result = run_cli("build", cwd=inner)
    assert result.code == 2 and f"no main.py in {inner}" in result.err


def test_the_nearest_main_py_wins(make_project):
    outer = make_project(SIMPLE, name="outer")
    inner = outer / "inner"
    inner.mkdir()
    (inner / "main.py").write_text((outer / "main.py").read_text())
    assert run_cli("build", cwd=inner).code == 0
    assert (inner / "docker-compose.yml").is_file() and not (outer / "docker-compose.yml").exists()


def test_plan_takes_no_output_option(make_project):
    root = make_project(SIMPLE)
    result = run_cli("plan", "-C", str(root), "-o", str(root / "x.yml"))
    assert result.code == 2 and "No such option" in result.err
    assert not (root / "x.yml").exists()


def test_every_option_of_every_command_is_used():
    """No option that is accepted and ignored: each one is a parameter its command reads."""
    import inspect

    import typer.main

    from clockwork_compose import _cli

    group = typer.main.get_command(_cli.app)
    commands = [("", "", group)]
    for name, command in group.commands.items():  # a group's commands (clockwork migrations ...)
        inner = getattr(command, "commands", None)
        commands += [(name, n, c) for n, c in inner.items()] if inner else [("", name, command)]
    for prefix, name, command in commands:
        plain = {"": "main", "assert": "assert_", "import": "import_"}.get(name, name.replace("-", "_"))
        function = getattr(_cli, f"{prefix}_{plain}", None) or getattr(_cli, plain)
        source = inspect.getsource(function)
        body = source.split(") -> None:", 1)[1]
        for param in command.params:
            if param.name in ("help", "version"):
                continue
            assert re.search(rf"\b{param.name}\b", body), f"`clockwork {name}` ignores --{param.name}"


def test_the_pre_commit_hook_runs_build_check_when_the_inputs_change():
    import tomllib

    import yaml
    from support import REPO

    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "clockwork-build-check"
    assert hook["entry"] == "clockwork build --check" and hook["language"] == "python"
    assert hook["pass_filenames"] is False  # the command takes no file names
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["clockwork"] == "clockwork_compose._entry:run"  # what `entry` runs once pre-commit installs us
    files = re.compile(hook["files"])
    for path in (
        "main.py",
        "deploy/main.py",
        "schema.sql",
        "db/schema.sql",
        "migrations/001_init.sql",
        "docker-compose.yml",
        "api-server/Dockerfile",
    ):
        assert files.search(path), path
    for path in ("README.md", "src/app.py", "notmain.py", "migrations/README.md"):
        assert not files.search(path), path
    readme = (REPO / "README.md").read_text()
    assert "hooks: [{id: clockwork-build-check}]" in readme


# -- where -o may write --------------------------------------------------------------------------

MIGRATED = """
db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": Secret("PW")})
app = DockerResource(name="app", image="example/app:1")
app.connect(DatabaseConnection(to_resource=db, password=Secret("PW"), schema_file="db/schema.sql",
                               migrations_dir="migrations/"))
"""
MIGRATED_FILES = {
    "db/schema.sql": "CREATE TABLE t (id int);\n",
    "migrations/001_a.sql": "ALTER TABLE t ADD COLUMN a int;\n",
    "README.md": "# hand-written\n",
    ".env": 'PW="kept"\n',
    ".gitignore": ".env\n",
}


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("output", "what"),
    [
        ("main.py", "is the project's main.py"),
        ("db/schema.sql", "is the schema_file of db"),
        ("migrations/001_a.sql", "is in the migrations_dir of db"),
        ("migrations/002_new.sql", "is in the migrations_dir of db"),  # would be read as a migration next build
        (".env", "is a .env file"),
        ("elsewhere/.env", "is a .env file"),
        (".gitignore", "is a .gitignore file"),
        ("README.md", "was not written by clockwork (it does not start with '# Generated by clockwork-compose"),
    ],
)
def test_output_never_overwrites_an_input_or_a_file_clockwork_did_not_write(make_project, output, what):
    """`build -o main.py` once replaced main.py with YAML: exit 2, one line, no byte written."""
    root = make_project(MIGRATED, MIGRATED_FILES)
    before = _files(root)
    result = run_cli("build", "-C", str(root), "-o", str(root / output))
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    assert lines[0].startswith(f"error: {root / output} {what}"), lines[0]
    assert "never overwrites it" in lines[0] and "give -o the path of the file to generate" in lines[0]
    assert _files(root) == before  # main.py, .env, .gitignore: not a byte changed, nothing added


def test_output_through_a_link_to_main_py_is_refused(make_project, tmp_path):
    root = make_project(MIGRATED, MIGRATED_FILES)
    (tmp_path / "compose-link.yml").symlink_to(root / "main.py")
    os.link(root / "main.py", tmp_path / "compose-hardlink.yml")
    before = _files(root)
    for link in ("compose-link.yml", "compose-hardlink.yml"):
        result = run_cli("build", "-C", str(root), "-o", str(tmp_path / link))
        assert result.code == 2 and "is the project's main.py" in result.err, result.err
    assert _files(root) == before


@pytest.mark.parametrize("target", ["compose", "swarm", "kubernetes"])
def test_output_replaces_a_file_clockwork_generated(make_project, tmp_path, target):
    root = make_project(MIGRATED, MIGRATED_FILES)
    out = tmp_path / "deploy" / "out.yml"
    assert run_cli("build", "-C", str(root), "-o", str(out), "--target", target).code == 0
    main = root / "main.py"
    main.write_text(main.read_text().replace('"example/app:1"', '"example/app:2"'))
    again = run_cli("build", "-C", str(root), "-o", str(out), "--target", target)
    assert again.code == 0 and "wrote" in again.err, again.err
    assert "example/app:2" in out.read_text()


def test_output_may_fill_an_empty_file(make_project, tmp_path):
    root = make_project(MIGRATED, MIGRATED_FILES)
    out = tmp_path / "empty.yml"
    out.touch()
    assert run_cli("build", "-C", str(root), "-o", str(out)).code == 0
    assert out.read_text().startswith("# Generated by clockwork-compose")


def test_every_target_starts_its_file_with_the_generated_line():
    """How a generated file is recognised (``_api.may_write``): every target's first line."""
    from clockwork_compose import _targets

    for name in _targets.TARGETS:
        assert _targets.emitter(name).HEADER.startswith(_targets.GENERATED), name
