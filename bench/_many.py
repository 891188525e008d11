"""A project of many services for the engine benchmarks: PAIRS Redis servers and PAIRS apps,
each app with a ``TcpProbe`` and connected to its own Redis (so it depends on it being
healthy). 40 pairs (80 services) by default: the size issue 21 measured.

The apps run the example's worker image (it has python3) as a tiny TCP server. The project
has no shared network and no fixed ports; its containers are named ``<prefix>-redis-NN``
and ``<prefix>-app-NN``, so that a run names everything it makes after its folder.
"""

from __future__ import annotations

from pathlib import Path

PAIRS = 40
APP_IMAGE = "connected-services-worker-service"
REDIS_IMAGE = "redis:7-alpine"
APP_PORT = 8080
#: A server that accepts connections on APP_PORT and does nothing else: what the probe checks.
SERVE = f"import socket,time;s=socket.socket();s.bind(('0.0.0.0',{APP_PORT}));s.listen();time.sleep(1e9)"


def generate(folder: Path, pairs: int = PAIRS, prefix: str | None = None, health_interval: float | None = None) -> Path:
    """Write ``folder``/main.py for ``pairs`` Redis servers and ``pairs`` apps; the folder.
    ``health_interval``: seconds between healthchecks once ready (None: clockwork's default)."""
    prefix = prefix or folder.name
    folder.mkdir(parents=True, exist_ok=True)
    interval = "" if health_interval is None else f", health_interval={health_interval:g}"
    text = f'''"""{2 * pairs} services: {pairs} Redis servers, {pairs} apps each waiting for its own."""

from clockwork_compose import DockerResource, ProjectSettings, TcpProbe

ProjectSettings(shared_network=False{interval})

for i in range({pairs}):
    redis = DockerResource(name=f"{prefix}-redis-{{i:02d}}", description="cache", image="{REDIS_IMAGE}")
    app = DockerResource(
        name=f"{prefix}-app-{{i:02d}}",
        description="app",
        image="{APP_IMAGE}",
        command=["python3", "-c", {SERVE!r}],
        readiness=TcpProbe({APP_PORT}),
    )
    app.connect(redis)
'''
    (folder / "main.py").write_text(text, encoding="utf-8")
    return folder
