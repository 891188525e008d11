"""clockwork-compose: describe services in Python, get a docker-compose.yml that is right.

from clockwork_compose import DockerResource, DatabaseConnection
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
    Logging,
    Mount,
    Network,
    Port,
    ProjectSettings,
    Resources,
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
    "LoadError",
    "Logging",
    "Mount",
    "Network",
    "Port",
    "ProjectSettings",
    "Resources",
    "RuntimeFailure",
    "Secret",
    "TcpPort",
    "TcpProbe",
    "Volume",
]
