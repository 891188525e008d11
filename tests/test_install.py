"""`pip install .` gives a working `clockwork` with its templates: test the built wheel itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

from support import EXAMPLE, REPO


def test_the_wheel_ships_the_templates_and_builds_the_example(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO)],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("clockwork_compose-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "clockwork_compose/templates/migrator.sh.j2" in names
    assert any(n.endswith("entry_points.txt") for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    project = tmp_path / "connected-services"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("docker-compose.yml"))
    probe = "import clockwork_compose._migrator as m; print(m.__file__)"
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.startswith(str(target)), where.stderr  # the installed copy, not the source tree
    result = subprocess.run(
        [sys.executable, "-m", "clockwork_compose", "build", "-C", str(project)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (project / "docker-compose.yml").read_text() == (EXAMPLE / "docker-compose.yml").read_text()
