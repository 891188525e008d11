"""Secrets: values never reach the committed compose file; .env holds them, 0600, git-ignored."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from support import compose_config, needs_compose, run_cli

from clockwork_compose import DeclarationError, _api, _envfile

PASSWORD = 'p@ss$w"rd/#1 ü'  # pragma: allowlist secret
SECRET_MAIN = """
db = DockerResource(
    name="postgres-db",
    image="postgres:15-alpine",
    ports=["5432:5432"],
    env_vars={"POSTGRES_DB": "appdb", "POSTGRES_USER": "admin", "POSTGRES_PASSWORD": Secret("DB_PASSWORD")},
)
api = DockerResource(name="api-server", image="example/api:1", ports=["8000:80"])
api.connect(
    DatabaseConnection(
        to_resource=db,
        username="admin",
        password=Secret("DB_PASSWORD"),
        database_name="appdb",
    )
)
"""
PLAIN_MAIN = SECRET_MAIN.replace('Secret("DB_PASSWORD")', '"secret123"')  # pragma: allowlist secret
URL = f"postgresql://admin:{quote(PASSWORD, safe='')}@postgres-db:5432/appdb"


def unescape(value: str) -> str:
    return value.replace("$$", "$")


def test_no_secret_value_in_the_compose_file_and_env_is_private(make_project):
    root = make_project(SECRET_MAIN)
    result = run_cli("build", "-C", str(root), env={"DB_PASSWORD": PASSWORD})
    assert result.code == 0, result.err
    text = (root / "docker-compose.yml").read_text()
    for form in (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD), "p@ss", "p%40ss", "secret"):
        assert form not in text
    assert "${DB_PASSWORD:?" in text and "${CLOCKWORK_API_SERVER_DATABASE_URL:?" in text
    env = root / ".env"
    assert env.stat().st_mode & 0o777 == 0o600
    assert _envfile.parse(env.read_text()) == {"DB_PASSWORD": PASSWORD, "CLOCKWORK_API_SERVER_DATABASE_URL": URL}
    assert (root / ".gitignore").read_text() == ".env\n"
    assert "added .env to" in result.err and "warning" not in result.err


def test_env_is_ignored_by_git_itself(make_project):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    root = make_project(SECRET_MAIN)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert run_cli("build", "-C", str(root), env={"DB_PASSWORD": PASSWORD}).code == 0
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", ".env"])
    assert ignored.returncode == 0
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True)
    assert ".env" not in status.stdout.replace(".gitignore", "")


@needs_compose
def test_docker_compose_config_resolves_everything_from_env(make_project):
    root = make_project(SECRET_MAIN)
    assert run_cli("build", "-C", str(root), env={"DB_PASSWORD": PASSWORD}).code == 0
    services = compose_config(root)["services"]
    assert unescape(services["api-server"]["environment"]["DATABASE_URL"]) == URL
    assert unescape(services["postgres-db"]["environment"]["POSTGRES_PASSWORD"]) == PASSWORD
    assert unescape(services["postgres-db"]["environment"]["POSTGRES_USER"]) == "admin"


@needs_compose
def test_docker_compose_config_on_the_example_with_secrets(tmp_path):
    example = Path(__file__).resolve().parent.parent / "examples" / "connected-services"
    root = tmp_path / "connected-services"
    shutil.copytree(example, root, ignore=shutil.ignore_patterns("docker-compose.yml", ".env"))
    main = root / "main.py"
    text = main.read_text().replace('"secret123"', 'Secret("DB_PASSWORD")')  # pragma: allowlist secret
    main.write_text(text.replace("import DatabaseConnection, DockerResource", "import *  # noqa: F403"))
    assert run_cli("build", "-C", str(root), env={"DB_PASSWORD": PASSWORD}).code == 0
    assert PASSWORD not in (root / "docker-compose.yml").read_text()
    services = compose_config(root)["services"]
    assert unescape(services["api-server"]["environment"]["DATABASE_URL"]) == URL
    assert unescape(services["postgres-db"]["environment"]["POSTGRES_PASSWORD"]) == PASSWORD
    assert unescape(services["postgres-db-migrator"]["environment"]["PGPASSWORD"]) == PASSWORD


def test_a_secret_without_a_value_is_not_an_error_and_leaves_env_alone(make_project):
    root = make_project(SECRET_MAIN)
    user_env = "# mine\nOTHER='x y'\nexport KEEP=1\n"
    (root / ".env").write_text(user_env)
    result = subprocess.run(
        [*_cli(), "build", "-C", str(root)], capture_output=True, text=True, env=_without("DB_PASSWORD")
    )
    assert result.returncode == 0, result.stderr
    assert "not set yet: DB_PASSWORD" in result.stderr
    assert (root / ".env").read_text() == user_env
    assert (root / "docker-compose.yml").is_file()


def _without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def _cli() -> list[str]:
    return [sys.executable, "-m", "clockwork_compose"]


def test_an_empty_value_counts_as_unset(make_project):
    # Compose's ${VAR:?} refuses an empty value too.
    root = make_project(SECRET_MAIN)
    result = _api.build(root, environ={"DB_PASSWORD": ""})
    assert result.unset_secrets == ("DB_PASSWORD",)
    assert not (root / ".env").exists()


def test_values_already_in_env_are_used_and_user_lines_are_kept(make_project):
    root = make_project(SECRET_MAIN)
    user_env = f"# my settings\nOTHER='x y'\nDB_PASSWORD={_envfile.quote(PASSWORD)}\nexport KEEP=1 # note\n"
    (root / ".env").write_text(user_env)
    os.chmod(root / ".env", 0o644)
    project = _api.build(root, environ={}).project
    text = (root / ".env").read_text()
    assert text.startswith(user_env)  # every user line, in place; the derived URL appended
    assert _envfile.parse(text) == {
        "OTHER": "x y",
        "DB_PASSWORD": PASSWORD,
        "KEEP": "1",
        "CLOCKWORK_API_SERVER_DATABASE_URL": URL,
    }
    assert (root / ".env").stat().st_mode & 0o777 == 0o600
    assert set(project.env_file) == {"DB_PASSWORD", "CLOCKWORK_API_SERVER_DATABASE_URL"}


def test_env_keeps_its_value_and_the_environment_wins_for_the_run(make_project):
    """`DB_PASSWORD=new clockwork build` once replaced DB_PASSWORD=old in .env, the only record
    of the password the volume was created with. .env keeps it; the run uses the environment's
    (as Compose does), says so in one line without the value, and derives the URL from it."""
    root = make_project(SECRET_MAIN)
    (root / ".env").write_text("A=1\nDB_PASSWORD='old'\nB=2\n")
    result = _api.build(root, environ={"DB_PASSWORD": "new"})
    text = (root / ".env").read_text()
    assert text.startswith("A=1\nDB_PASSWORD='old'\nB=2\n")  # the line as the user wrote it
    url = _envfile.parse(text)["CLOCKWORK_API_SERVER_DATABASE_URL"]
    assert url.startswith("postgresql://admin:old@")  # .env stays consistent with itself
    (note,) = [n for n in result.notes if "DB_PASSWORD" in n]
    assert note.startswith("DB_PASSWORD in the environment differs from the value .env keeps: this run uses")
    assert "new" not in note and "old" not in note
    env = _envfile.plan(result.project, root, {"DB_PASSWORD": "new"})
    assert env.values["DB_PASSWORD"] == "new"
    assert env.values["CLOCKWORK_API_SERVER_DATABASE_URL"].startswith("postgresql://admin:new@")
    # What Compose would not see from .env and the environment: the URL derived from "new".
    assert env.exports == {"CLOCKWORK_API_SERVER_DATABASE_URL": env.values["CLOCKWORK_API_SERVER_DATABASE_URL"]}
    assert _envfile.plan(result.project, root, {"DB_PASSWORD": "old"}).notes == ()  # the same value: nothing said


def test_an_empty_value_in_the_environment_counts_as_none_for_compose_too(make_project):
    """Compose lets an exported empty variable win over .env (and ${VAR:?} then refuses it):
    clockwork uses .env's value, says so, and hands that value to Compose."""
    root = make_project(SECRET_MAIN)
    (root / ".env").write_text('DB_PASSWORD="kept"\n')
    result = _api.build(root, environ={"DB_PASSWORD": ""})
    assert result.unset_secrets == ()
    (note,) = [n for n in result.notes if "DB_PASSWORD" in n]
    assert note.startswith("DB_PASSWORD is set but empty in the environment: this run uses the value .env keeps")
    env = _envfile.plan(result.project, root, {"DB_PASSWORD": ""})
    assert env.exports == {"DB_PASSWORD": "kept"}
    assert _envfile.run_values(root, {"DB_PASSWORD": "", "OTHER": "x"})["DB_PASSWORD"] == "kept"


def test_the_environment_gives_a_value_env_does_not_have_yet(make_project):
    root = make_project(SECRET_MAIN)
    (root / ".env").write_text("A=1\n")
    result = _api.build(root, environ={"DB_PASSWORD": "first"})
    assert _envfile.parse((root / ".env").read_text())["DB_PASSWORD"] == "first"  # recorded once
    assert not [n for n in result.notes if "in the environment" in n]


def test_a_byte_order_mark_is_not_part_of_the_first_name(make_project):
    """A .env an editor saved with a UTF-8 BOM: its first variable had "no value"."""
    root = make_project(SECRET_MAIN)
    (root / ".env").write_bytes(b'\xef\xbb\xbfDB_PASSWORD="kept"\nOTHER=1\n')
    result = _api.build(root, environ={})
    assert result.unset_secrets == ()
    data = (root / ".env").read_bytes()
    assert data.startswith(b'\xef\xbb\xbfDB_PASSWORD="kept"\nOTHER=1\n')  # kept, mark included, not appended twice
    assert data.count(b"DB_PASSWORD=") == 1
    assert _envfile.parse(data.decode())["CLOCKWORK_API_SERVER_DATABASE_URL"].startswith("postgresql://admin:kept@")


def test_a_second_build_rewrites_nothing(make_project):
    root = make_project(SECRET_MAIN)
    _api.build(root, environ={"DB_PASSWORD": PASSWORD})
    before = (root / ".env").stat().st_mtime_ns, (root / ".gitignore").read_text()
    again = _api.build(root, environ={"DB_PASSWORD": PASSWORD})
    assert not again.changed and again.notes == ()
    assert ((root / ".env").stat().st_mtime_ns, (root / ".gitignore").read_text()) == before


def test_require_names_the_missing_secret_and_passes_when_set(make_project):
    root = make_project(SECRET_MAIN)
    project = _api.build(root, environ={}).project
    with pytest.raises(DeclarationError) as info:
        _envfile.require(project, root, environ={})
    message = str(info.value)
    assert message.startswith("resource 'postgres-db', field 'env_vars.POSTGRES_PASSWORD': Secret('DB_PASSWORD')")
    assert "export DB_PASSWORD=" in message
    assert info.value.exit_code == 2
    _envfile.require(project, root, environ={"DB_PASSWORD": PASSWORD})
    assert _envfile.parse((root / ".env").read_text())["DB_PASSWORD"] == PASSWORD
    _envfile.require(project, root, environ={})  # now .env has it


def test_plain_password_still_works_and_warns_once(make_project):
    root = make_project(PLAIN_MAIN)
    result = run_cli("build", "-C", str(root))
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "Secret(" in warnings[0] and "committed in clear" in warnings[0]
    assert "POSTGRES_PASSWORD" in warnings[0] and "password" in warnings[0]
    assert "secret123" not in warnings[0]
    text = (root / "docker-compose.yml").read_text()
    assert "postgresql://admin:secret123@postgres-db:5432/appdb" in text  # as the seed shows
    assert not (root / ".env").exists() and not (root / ".gitignore").exists()


def test_secret_username_and_template(make_project):
    main = SECRET_MAIN.replace('username="admin"', 'username=Secret("DB_USER")')
    root = make_project(main)
    _api.build(root, environ={"DB_PASSWORD": "pw", "DB_USER": "u:s@r"})
    text = (root / "docker-compose.yml").read_text()
    assert "u:s@r" not in text and "u%3As%40r" not in text
    url = _envfile.parse((root / ".env").read_text())["CLOCKWORK_API_SERVER_DATABASE_URL"]
    assert url == "postgresql://u%3As%40r:pw@postgres-db:5432/appdb"


@pytest.mark.parametrize(
    ("gitignore", "added"),
    [
        (None, True),
        ("node_modules/\n", True),
        (".env\n", False),
        ("/.env\n", False),
        ("*.env\n", False),
        (".env*\n", False),
        ("**/.env\n", False),
        (".env\n!.env\n", True),
        ("no-newline-at-end", True),
    ],
)
def test_gitignore_is_completed_only_when_env_is_not_ignored(make_project, gitignore, added):
    root = make_project(SECRET_MAIN)
    if gitignore is not None:
        (root / ".gitignore").write_text(gitignore)
    result = _api.build(root, environ={"DB_PASSWORD": "pw"})
    after = (root / ".gitignore").read_text()
    if added:
        assert after == (gitignore or "") + ("\n" if gitignore and not gitignore.endswith("\n") else "") + ".env\n"
        assert any("added .env" in note for note in result.notes)
        assert _envfile.is_ignored(root / ".env")
    else:
        assert after == gitignore
        assert not any("added .env" in note for note in result.notes)


def test_a_parent_gitignore_counts(tmp_path, make_project):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text(".env\n")
    root = make_project(SECRET_MAIN)
    _api.build(root, environ={"DB_PASSWORD": "pw"})
    assert not (root / ".gitignore").exists()


def test_env_goes_next_to_the_compose_file(make_project, tmp_path):
    root = make_project(SECRET_MAIN)
    out = tmp_path / "deploy" / "docker-compose.yml"
    _api.build(root, out, environ={"DB_PASSWORD": "pw"})
    assert (out.parent / ".env").is_file() and not (root / ".env").exists()


def test_every_command_reads_secrets_with_the_same_precedence(make_project, monkeypatch):
    """build, the Kubernetes Secret, assert and Swarm's deploy environment: the environment's
    non-empty value wins over .env for the run, and .env is left as it was."""
    import yaml

    root = make_project(SECRET_MAIN)
    (root / ".gitignore").write_text(".env\n")
    (root / ".env").write_text('DB_PASSWORD="kept"\n')
    assert run_cli("build", "-C", str(root), env={"DB_PASSWORD": ""}).code == 0
    recorded = (root / ".env").read_bytes()
    printed = run_cli("secrets", "--target", "kubernetes", "-C", str(root), env={"DB_PASSWORD": "other"})
    assert printed.code == 0, printed.err
    data = yaml.safe_load(printed.out)["stringData"]
    assert data["DB_PASSWORD"] == "other" and "admin:other@" in data["CLOCKWORK_API_SERVER_DATABASE_URL"]
    assert printed.err.startswith("DB_PASSWORD in the environment differs from the value .env keeps")
    assert "other" not in printed.err
    kept = run_cli("secrets", "--target", "kubernetes", "-C", str(root), env={"DB_PASSWORD": ""})
    assert yaml.safe_load(kept.out)["stringData"]["DB_PASSWORD"] == "kept"
    from clockwork_compose._targets.compose import runtime as _deploy  # assert's and Swarm's reading

    monkeypatch.setenv("DB_PASSWORD", "")
    assert _deploy.secret_values(root)["DB_PASSWORD"] == "kept"
    monkeypatch.setenv("DB_PASSWORD", "other")
    assert _deploy.secret_values(root)["DB_PASSWORD"] == "other"
    assert (root / ".env").read_bytes() == recorded
