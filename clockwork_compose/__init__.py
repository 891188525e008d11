"""clockwork-compose: describe services in Python, get a docker-compose.yml that is right.

from clockwork_compose import DockerResource, DatabaseConnection

Inside, each layer imports only those below it: ``_errors``; the declarations users write
(``_declarations``); the target-neutral model and the lowering into it (``_model``,
``_lower``, with ``_engines``, ``_migrations``); the targets, one package each
(``_targets/compose``, ``swarm``, ``kubernetes``: an emitter and, where clockwork runs it, a
runtime) over the one door to the engine (``_docker``); ``_api``; the CLI (``_cli``).
"""

from ._declarations import (
    BuildSpec,
    CommandProbe,
    ContainerRunning,
    DatabaseConnection,
    DatabaseQuery,
    DockerResource,
    HealthCheck,
    HttpProbe,
    HttpStatus,
    Secret,
    TcpPort,
    TcpProbe,
)
from ._errors import CheckFailed, ClockworkError, DeclarationError, EngineUnavailable, LoadError, RuntimeFailure
from ._fields import (
    Config,
    Env,
    EnvText,
    FileSecret,
    Ipam,
    Logging,
    Mount,
    Network,
    Port,
    ProjectSettings,
    Rebuild,
    Resources,
    Sync,
    SyncRestart,
    Volume,
)

__version__ = "0.1.0"

__all__ = [
    "BuildSpec",
    "CheckFailed",
    "ClockworkError",
    "CommandProbe",
    "Config",
    "ContainerRunning",
    "DatabaseConnection",
    "DatabaseQuery",
    "DeclarationError",
    "DockerResource",
    "EngineUnavailable",
    "Env",
    "EnvText",
    "FileSecret",
    "HealthCheck",
    "HttpProbe",
    "HttpStatus",
    "Ipam",
    "LoadError",
    "Logging",
    "Mount",
    "Network",
    "Port",
    "ProjectSettings",
    "Rebuild",
    "Resources",
    "RuntimeFailure",
    "Secret",
    "Sync",
    "SyncRestart",
    "TcpPort",
    "TcpProbe",
    "Volume",
]
