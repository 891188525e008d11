"""Watch rules (issue 20): Sync, SyncRestart and Rebuild declared in main.py, their checks
(one line naming the resource, the field and the fix), the ``develop.watch`` block Compose
reads (``docker compose watch`` works without clockwork), its bytes the same on every
build, and what Swarm and Kubernetes make of it (they leave it out, with a warning)."""

from __future__ import annotations

import pytest
import yaml
from support import compose_config, needs_compose, run_cli

from clockwork_compose import Rebuild, Sync, SyncRestart, _api
from clockwork_compose._errors import DeclarationError

FILES = {"app/Dockerfile": "FROM redis:7-alpine\n", "app/src/main.txt": "v1\n", "conf/app.conf": "x\n"}
FILES |= {"requirements.txt": ""}
RULES = (
    'Sync("./app/src", "/app/src", ignore=["*.pyc", "__pycache__/"]), '
    'Rebuild("requirements.txt"), SyncRestart("./conf", "/etc/app")'
)


def _main(watch: str = RULES, where: str = 'build="./app"') -> str:
    return f"app = DockerResource(name='app', {where}, watch=[{watch}])\n"


def _doc(make_project, main: str, target: str = "compose") -> tuple[dict, list[str]]:
    root = make_project(main, FILES)
    project, text, _ = _api.compile_project(root, target=target)
    return yaml.safe_load(text), project.warnings


def test_the_rules_become_develop_watch_in_the_order_declared(make_project) -> None:
    doc, _ = _doc(make_project, _main())
    assert doc["services"]["app"]["develop"] == {
        "watch": [
            {"action": "sync", "path": "./app/src", "target": "/app/src", "ignore": ["*.pyc", "__pycache__/"]},
            {"action": "rebuild", "path": "./requirements.txt"},
            {"action": "sync+restart", "path": "./conf", "target": "/etc/app"},
        ]
    }


def test_no_watch_writes_no_develop(make_project) -> None:
    doc, _ = _doc(make_project, "app = DockerResource(name='app', build='./app')\n")
    assert "develop" not in doc["services"]["app"]


def test_the_file_is_the_same_bytes_on_every_build(make_project) -> None:
    root = make_project(_main(), FILES)
    texts = {_api.compile_project(root)[1] for _ in range(3)}
    assert len(texts) == 1


def test_an_output_in_another_folder_places_the_paths_from_there(make_project, tmp_path) -> None:
    root = make_project(_main(), FILES)
    _, text, _ = _api.compile_project(root, output=root / "deploy" / "docker-compose.yml")
    assert yaml.safe_load(text)["services"]["app"]["develop"]["watch"][0]["path"] == "../app/src"


@needs_compose
def test_compose_reads_the_rules_as_written(make_project) -> None:
    root = make_project(_main(), FILES)
    assert run_cli("build", "-C", str(root)).code == 0
    watch = compose_config(root)["services"]["app"]["develop"]["watch"]
    assert [(w["action"], w.get("target")) for w in watch] == [
        ("sync", "/app/src"),
        ("rebuild", None),
        ("sync+restart", "/etc/app"),
    ]
    assert watch[0]["path"] == str(root / "app" / "src")


@pytest.mark.parametrize(
    ("main", "field", "words"),
    [
        (_main('Sync("./nope", "/app")'), "watch", "'./nope' does not exist"),
        (_main('Rebuild("../outside.txt")'), "watch", "outside the project folder"),
        (_main('Sync("~/src", "/app")'), "watch", "is not a path of the project"),
        (_main('Sync("./app/src", "/app")', where="image='redis:7-alpine'"), "watch", 'add build="./app"'),
        (_main('Rebuild("requirements.txt")', where="image='redis:7-alpine'"), "watch", "rebuilds the image"),
        (_main('"./app/src"'), "watch", 'give Sync("./src", "/app/src")'),
        (_main('Sync("./app/src", "app/src")'), "target", "not an absolute container path"),
        (_main('Sync("./app/src", "/app", ignore=[""])'), "ignore", "not an ignore pattern"),
    ],
)
def test_bad_rules_say_which_resource_field_and_fix(make_project, main: str, field: str, words: str) -> None:
    root = make_project(main, FILES)
    with pytest.raises(DeclarationError) as caught:
        _api.compile_project(root)
    message = str(caught.value)
    assert f"field '{field}'" in message and words in message, message
    assert "\n" not in message


def test_a_bad_rule_exits_2_with_one_line(make_project) -> None:
    root = make_project(_main('Sync("./nope", "/app")'), FILES)
    result = run_cli("build", "-C", str(root))
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        f"error: resource 'app', field 'watch': './nope' does not exist in {root}; create the path or fix the path"
    ]


def test_the_rules_are_public_and_plain() -> None:
    rule = Sync("./src", "/app/src", ignore=["*.pyc"])
    assert (rule.action, rule.path, rule.target, rule.ignore) == ("sync", "./src", "/app/src", ("*.pyc",))
    assert SyncRestart("./c", "/etc/app").action == "sync+restart"
    assert Rebuild("requirements.txt").action == "rebuild"


@pytest.mark.parametrize("target", ["swarm", "kubernetes"])
def test_other_targets_leave_watch_out_with_a_warning(make_project, target: str) -> None:
    root = make_project(_main(), FILES)
    project, text, _ = _api.compile_project(root, target=target)
    assert "develop" not in text and "/app/src" not in text
    assert f"app: {target} ignores watch" in " ".join(project.warnings)
