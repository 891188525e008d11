"""`clockwork import` on a corpus of real compose files: each one, imported and built, must
describe the same stack as the original (``import_fidelity``). No engine needed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from import_fidelity import config, differences
from support import needs_compose

from clockwork_compose import _api, _compose_file, _import
from clockwork_compose._errors import DeclarationError

pytestmark = needs_compose

CORPUS = Path(__file__).parent / "data" / "compose-corpus"
FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.suffix in (".yml", ".yaml"))
#: Files that do not round-trip yet, and why (each must still fail: strict).
KNOWN: dict[str, str] = {
    "zulip+docker-zulip/compose.yaml": "its services use secrets no top-level secrets: declares (its users "
    "add them in an override file): there is no file for a FileSecret",
}
#: The goals of issue 18.
ROUND_TRIP_GOAL, ESCAPE_GOAL = 0.95, 0.05


@dataclass
class Trip:
    differences: list[str]
    imported: _import.Imported
    main: Path


def _round_trip(relative: str, tmp: Path) -> Trip:
    repo, _, inside = relative.partition("/")
    work = tmp / "stack"
    shutil.copytree(CORPUS / repo, work)
    source = work / inside
    folder = source.parent
    for other in FILES:  # the other stacks of the repository: moved aside, as their user would
        repo_of, _, path = other.partition("/")
        if repo_of == repo and other != relative and (work / path).parent == folder:
            (work / path).rename(folder / f"{Path(path).name}.other")
    original = source.rename(folder / f"{source.name}.orig")
    before = config(folder, original.name)
    _create_bind_sources(before, folder)
    imported = _import.import_file(original, folder)
    _api.build(folder, environ={})
    after = config(folder, "docker-compose.yml")
    return Trip(differences(before, after), imported, folder / "main.py")


def _create_bind_sources(model: dict, folder: Path) -> None:
    """Compose creates a missing bind-mount source; clockwork build refuses one inside the project (the corpus
    holds only the compose files): make what the original mounts, empty."""
    for key in ("secrets", "configs"):
        for declared in (model.get(key) or {}).values():
            if "file" in declared and not Path(declared["file"]).exists():
                Path(declared["file"]).parent.mkdir(parents=True, exist_ok=True)
                Path(declared["file"]).touch()
    for service in model["services"].values():
        for volume in service.get("volumes", []):
            source = Path(volume.get("source", ""))
            if volume.get("type") != "bind" or source.exists() or not source.is_relative_to(folder):
                continue
            if "." in source.name:
                source.parent.mkdir(parents=True, exist_ok=True)
                source.touch()
            else:
                source.mkdir(parents=True, exist_ok=True)
        for env_file in service.get("env_file", []):
            if not Path(env_file["path"]).exists():
                Path(env_file["path"]).touch()  # a file the repository expects its user to write
        build = service.get("build")
        if build and not Path(build["context"]).exists() and Path(build["context"]).is_relative_to(folder):
            Path(build["context"]).mkdir(parents=True)


@pytest.fixture(scope="module")
def trips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trip | Exception]:
    found: dict[str, Trip | Exception] = {}
    for relative in FILES:
        try:
            found[relative] = _round_trip(relative, tmp_path_factory.mktemp("corpus"))
        except Exception as exc:  # reported per file below
            found[relative] = exc
    return found


def test_the_corpus_is_real_and_varied():
    repos = {f.split("/")[0] for f in FILES}
    assert len(FILES) >= 40 and len(repos) >= 5
    readme = (CORPUS / "README.md").read_text()
    assert all(f"`{f.partition('/')[2]}`" in readme for f in FILES)


@pytest.mark.parametrize("relative", FILES)
def test_round_trip(relative: str, trips: dict[str, Trip | Exception]):
    trip = trips[relative]
    if relative in KNOWN:
        assert isinstance(trip, Exception) or trip.differences, f"{relative} round-trips now: drop it from KNOWN"
        pytest.xfail(KNOWN[relative])
    if isinstance(trip, Exception):
        raise trip
    assert trip.differences == []


def _round_tripped(trips: dict[str, Trip | Exception]) -> int:
    return sum(1 for t in trips.values() if isinstance(t, Trip) and not t.differences)


def test_every_file_not_known_round_trips(trips: dict[str, Trip | Exception]):
    ok = _round_tripped(trips)
    assert ok == len(FILES) - len(KNOWN)


def test_at_least_95_percent_of_files_round_trip(trips: dict[str, Trip | Exception]):
    ok = _round_tripped(trips)
    assert ok >= ROUND_TRIP_GOAL * len(FILES), f"{ok} of {len(FILES)} files round-trip"


def _escape_share() -> tuple[int, int, list[str]]:
    """Service keys of every file import reads, those that went through compose={...}, and
    the files import refuses (their keys are not counted)."""
    keys = escaped = 0
    refused = []
    for relative in FILES:
        path = CORPUS / relative
        try:
            imported = _import.convert(_compose_file.read(path), path.parent)
        except DeclarationError:
            refused.append(relative)
            continue
        keys += imported.keys
        escaped += sum(len(k) for k in imported.escaped.values())
    return keys, escaped, refused


def test_import_refuses_only_known_files():
    _, _, refused = _escape_share()
    assert set(refused) <= set(KNOWN)


def test_at_most_5_percent_of_service_keys_go_through_the_escape_hatch():
    keys, escaped, _ = _escape_share()
    assert escaped <= ESCAPE_GOAL * keys, f"{escaped} of {keys} service keys went through compose={{...}}"


def test_every_main_py_is_ruff_formatted(trips: dict[str, Trip | Exception]):
    mains = [str(t.main) for t in trips.values() if isinstance(t, Trip)]
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "--isolated", *mains],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_value_from_env_files_reaches_main_py(trips: dict[str, Trip | Exception]):
    checked = 0
    for relative, trip in trips.items():
        if not isinstance(trip, Trip):
            continue
        text = trip.main.read_text()
        original = trip.imported.source.read_text()
        for env in [*trip.main.parent.glob("*.env"), trip.main.parent / ".env"]:
            if env.is_file():
                checked += _no_values_of(env, text, original, relative)
    assert checked >= 10  # the corpus has env files with values of their own: the check ran


def _no_values_of(env: Path, text: str, original: str, relative: str) -> int:
    """Each value of ``env`` that the compose file does not itself hold is absent from main.py."""
    checked = 0
    for line in env.read_text().splitlines():
        name, sep, value = line.partition("=")
        value = value.strip().strip("'\"")
        if not sep or line.lstrip().startswith("#") or len(value) < 3 or value in original:
            continue
        checked += 1
        assert value not in text, f"{relative}: {name}'s value from {env.name} was copied into main.py"
    return checked
