"""Nothing a user writes can corrupt or inject into the generated files.

Env values come back as the same strings from YAML 1.1 and 1.2 parsers (and from Compose),
.env values come back from Compose's dotenv reader, paths stay inside the project unless
the declaration opts in, and the migrator's script never holds a user's names.
"""

from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from support import compose_config, needs_compose

from clockwork_compose import DeclarationError, _api, _envfile

HOSTILE = [
    "$HOME",
    "${HOME}",
    "$$",
    "a$",
    "100$ off",
    "it's",
    'say "hi"',
    "line one\nline two",
    "trailing newline\n",
    "\nleading newline",
    "# not a comment",
    "a #b",
    "key: value",
    "a:b",
    ": starts",
    "yes",
    "No",
    "on",
    "OFF",
    "null",
    "~",
    "1e3",
    "0x1F",
    "0o17",
    "012",
    "1_000",
    "-_",
    "-_1",
    ".inf",
    "-.nan",
    "true",
    "2024-01-01",
    "12:30:00",
    "",
    " ",
    "  padded  ",
    "tab\tinside",
    "cr\rinside",
    "- item",
    "[a, b]",
    "{a: b}",
    "&anchor",
    "*alias",
    "!tag",
    "%directive",
    "@at",
    "`backtick`",
    "|",
    ">",
    "back\\slash",
    "ünïcødé ☃ 😀",
    "\u2028separator",
    "\x85nel",
    "\ufeffbom",
]


def env_main(values: list[str]) -> str:
    env = {f"V{i}": value for i, value in enumerate(values)}
    return f"DockerResource(name='web', image='example/web:1', env_vars={env!r})\n"


def _parsers(text: str) -> list[dict]:
    return [yaml.safe_load(text), YAML(typ="safe", pure=True).load(text)]


def test_hostile_env_values_read_back_as_the_same_strings(make_project):
    root = make_project(env_main(HOSTILE))
    project, text, _ = _api.compile_project(root)
    for doc in _parsers(text):
        environment = doc["services"]["web"]["environment"]
        assert [environment[f"V{i}"].replace("$$", "$") for i in range(len(HOSTILE))] == HOSTILE
    assert project.warnings == []


@needs_compose
def test_compose_reads_hostile_env_values_unchanged(make_project):
    root = make_project(env_main(HOSTILE))
    assert _api.build(root, environ={}).changed
    environment = compose_config(root)["services"]["web"]["environment"]
    for i, value in enumerate(HOSTILE):
        # Compose prints ${...}-free text with $ doubled again; it drops a value's trailing \r? never.
        assert environment[f"V{i}"].replace("$$", "$") == value, (i, value)


@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")))
@settings(max_examples=300, deadline=None)
def test_env_file_quoting_round_trips(value):
    assert _envfile.parse(f"A={_envfile.quote(value)}\nB=after\n") == {"A": value, "B": "after"}


@needs_compose
def test_compose_reads_env_file_values_unchanged(tmp_path):
    values = [v for v in HOSTILE if v] + ["p@ss$w\"rd/#1 ü'x'", "\\$HOME", "${X:-y}"]
    (tmp_path / ".env").write_text("".join(f"S{i}={_envfile.quote(v)}\n" for i, v in enumerate(values)))
    lines = ["services:", "  a:", "    image: busybox", "    environment:"]
    lines += [f'      S{i}: "${{S{i}:?unset}}"' for i in range(len(values))]
    (tmp_path / "docker-compose.yml").write_text("\n".join(lines) + "\n")
    environment = compose_config(tmp_path)["services"]["a"]["environment"]
    assert [environment[f"S{i}"].replace("$$", "$") for i in range(len(values))] == values


def test_dollar_in_every_user_string_is_escaped(make_project):
    main = (
        "DockerResource(name='web', image='example/web:1', command=['echo', '$HOME'], entrypoint='sh -c \"$X\"', "
        "working_dir='/srv/$app', user='$uid', labels={'team': '$t'}, volumes=['data:/var/$lib'], "
        "description='costs $5')\n"
    )
    _, text, _ = _api.compile_project(make_project(main))
    web = yaml.safe_load(text)["services"]["web"]
    assert web["command"] == ["echo", "$$HOME"]
    assert web["entrypoint"] == 'sh -c "$$X"'
    assert web["working_dir"] == "/srv/$$app" and web["user"] == "$$uid"
    assert web["labels"]["team"] == "$$t" and web["labels"]["dev.clockwork.description"] == "costs $$5"
    assert web["volumes"] == ["data:/var/$$lib"]


@pytest.mark.parametrize(
    "field",
    [
        "image='example/web:1\\nprivileged: true'",
        "ports=['80:80\\n    privileged: true']",
        "env_vars={'A\\nB': 'x'}",
        "labels={'a\\nb': 'x'}",
        "working_dir='/app\\nprivileged: true'",
        "networks=['n\\nprivileged: true']",
        "volumes=['data:/x\\nprivileged: true']",
    ],
)
def test_structural_fields_reject_newlines_before_yaml(make_project, field):
    image = "" if field.startswith("image") else "image='example/web:1', "
    root = make_project(f"DockerResource(name='web', {image}{field})\n")
    with pytest.raises(DeclarationError) as info:
        _api.compile_project(root)
    assert "resource 'web'" in str(info.value) and "\n" not in str(info.value)


# -- paths ------------------------------------------------------------------------------------


def test_paths_outside_the_project_need_the_opt_in(make_project, tmp_path):
    shared = tmp_path / "shared"
    (shared / "app").mkdir(parents=True)
    (shared / "app" / "Dockerfile").write_text("FROM scratch\n")
    (shared / "schema.sql").write_text("select 1;\n")
    main = """
    db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": Secret("PW")})
    web = DockerResource(name="web", build="../shared/app", volumes=["../shared:/shared:ro"], OPT)
    web.connect(DatabaseConnection(to_resource=db, schema_file="../shared/schema.sql", OPT))
    """
    root = make_project(main.replace(", OPT", ""))
    with pytest.raises(DeclarationError, match="allow_outside_project=True"):
        _api.compile_project(root)
    root = make_project(main.replace("OPT", "allow_outside_project=True"))
    _, text, _ = _api.compile_project(root)
    doc = yaml.safe_load(text)
    assert doc["services"]["web"]["build"] == {"context": "../shared/app"}
    assert doc["services"]["web"]["volumes"][0]["source"] == "../shared"
    assert doc["services"]["db-migrator"]["volumes"][0]["source"] == "../shared/schema.sql"


def test_a_symlink_out_of_the_project_is_outside(make_project, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    root = make_project("DockerResource(name='web', image='example/web:1', volumes=['./link:/data'])\n")
    os.symlink(tmp_path / "elsewhere", root / "link")
    with pytest.raises(DeclarationError, match="outside the project folder"):
        _api.compile_project(root)


def test_paths_inside_the_project_are_relative_to_the_compose_file(make_project):
    main = "DockerResource(name='web', image='example/web:1', volumes=['./data/../data:/d', './:/project'])\n"
    root = make_project(main, {"data/keep": ""})
    _, text, _ = _api.compile_project(root)
    volumes = yaml.safe_load(text)["services"]["web"]["volumes"]
    assert [v["source"] for v in volumes] == ["./data", "."]


# -- the migrator -----------------------------------------------------------------------------


def test_hostile_names_never_reach_the_migrator_script(make_project):
    from clockwork_compose._migrator import migrator_entrypoint

    # No blanks: a blank cannot be part of a record name, and build refuses it (tested below).
    hostile_schema = "001_it's;rm${IFS}-rf${IFS}INJECTED.sql"
    files = {
        hostile_schema: "select 1;\n",
        "migrations/001_it's;rm${IFS}-rf${IFS}INJECTED.sql": "select 1;\n",
        "migrations/002_$(touch${IFS}pwned)`id`.sql": "select 2;\n",
        'migrations/003_"quoted"\\.sql': "select 3;\n",
    }
    main = f"""
    db = DockerResource(
        name="db",
        image="postgres:16",
        env_vars={{"POSTGRES_DB": 'a"b', "POSTGRES_USER": "o'neil; drop", "POSTGRES_PASSWORD": Secret("PW")}},
    )
    web = DockerResource(name="web", image="example/web:1")
    web.connect(DatabaseConnection(to_resource=db, schema_file={hostile_schema!r}, migrations_dir="migrations"))
    """
    root = make_project(main, files)
    _, text, _ = _api.compile_project(root)
    migrator = yaml.safe_load(text)["services"]["db-migrator"]
    entrypoint = [part.replace("$$", "$") for part in migrator["entrypoint"]]
    assert entrypoint == list(migrator_entrypoint())  # the same script for every project
    for word in ("it's", "INJECTED", "pwned", "o'neil", 'a"b'):
        assert word not in entrypoint[2]
    # The names reach the driver as data: arguments of the plan, "$" escaped for Compose.
    command = [part.replace("$$", "$") for part in migrator["command"]]
    assert command[0].endswith(f" schema/{hostile_schema}")
    assert command[2].endswith(" migrations/002_$(touch${IFS}pwned)`id`.sql")
    env = migrator["environment"]
    assert env["PGDATABASE"] == 'a"b' and env["PGUSER"] == "o'neil; drop"
    assert env["PGPASSWORD"].startswith("${PW:?")
    sources = {v["source"].replace("$$", "$") for v in migrator["volumes"]}
    assert sources == {f"./{hostile_schema}", "./migrations"}


def test_a_blank_in_a_migration_name_is_refused(make_project):
    main = """
    db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": Secret("PW")})
    web = DockerResource(name="web", image="example/web:1")
    web.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations"))
    """
    root = make_project(main, {"migrations/002 $(touch pwned).sql": "select 2;\n"})
    with pytest.raises(DeclarationError, match="holds a blank or a control character"):
        _api.compile_project(root)
