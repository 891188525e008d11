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

__version__ = "0.1.0"

__all__ = [
    "BuildSpec",
    "CheckFailed",
    "ClockworkError",
    "CommandProbe",
    "ContainerRunning",
    "DatabaseConnection",
    "DatabaseQuery",
    "DeclarationError",
    "DockerResource",
    "EngineUnavailable",
    "HealthCheck",
    "HttpProbe",
    "HttpStatus",
    "LoadError",
    "RuntimeFailure",
    "Secret",
    "TcpPort",
    "TcpProbe",
]
