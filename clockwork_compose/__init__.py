"""clockwork-compose: describe services in Python, get a docker-compose.yml that is right.

from clockwork_compose import DockerResource, DatabaseConnection
"""

from ._declarations import (
    BuildSpec,
    ContainerRunning,
    DatabaseConnection,
    DatabaseQuery,
    DockerResource,
    HealthCheck,
    HttpStatus,
    Secret,
    TcpPort,
)
from ._errors import CheckFailed, ClockworkError, DeclarationError, EngineUnavailable, LoadError, RuntimeFailure

__version__ = "0.1.0"

__all__ = [
    "BuildSpec",
    "CheckFailed",
    "ClockworkError",
    "ContainerRunning",
    "DatabaseConnection",
    "DatabaseQuery",
    "DeclarationError",
    "DockerResource",
    "EngineUnavailable",
    "HealthCheck",
    "HttpStatus",
    "LoadError",
    "RuntimeFailure",
    "Secret",
    "TcpPort",
]
