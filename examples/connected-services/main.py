"""Connected services: PostgreSQL and Redis, an API that uses both, a worker that uses Redis.

Compile with `clockwork build`; run with `clockwork apply`, `clockwork assert`, `clockwork destroy`.
"""

from clockwork_compose import DatabaseConnection, DockerResource, HttpProbe

# Independent database resource (deploys first)
postgres = DockerResource(
    description="PostgreSQL database",
    name="postgres-db",
    image="postgres:15-alpine",
    ports=["5432:5432"],
    env_vars={
        "POSTGRES_DB": "appdb",
        "POSTGRES_USER": "admin",
        "POSTGRES_PASSWORD": "secret123",  # pragma: allowlist secret
    },
)

# Cache and job queue (deploys first)
redis = DockerResource(
    description="Redis cache/queue",
    name="redis-cache",
    image="redis:7-alpine",
    ports=["6379:6379"],
)

# API server: built from ./api-server/Dockerfile; ready once GET /health answers 200
# (apply waits for it, so `curl localhost:8000/health` works as soon as apply returns).
api = DockerResource(
    description="FastAPI backend server",
    name="api-server",
    ports=["8000:80"],
    readiness=HttpProbe("/health", port=80),
)

# Background worker: built from ./worker-service/Dockerfile
worker = DockerResource(
    description="Background worker",
    name="worker-service",
)

# The API gets DATABASE_URL, waits for PostgreSQL to be ready and for the schema and
# migrations to be applied.
api.connect(
    DatabaseConnection(
        to_resource=postgres,
        connection_string_template="postgresql://{user}:{password}@{host}:{port}/{database}",
        username="admin",
        password="secret123",  # pragma: allowlist secret
        database_name="appdb",
        env_var_name="DATABASE_URL",
        wait_for_ready=True,
        timeout=30,
        schema_file="schema.sql",
        migrations_dir="migrations/",
    )
)

# Simple connections: ordering plus REDIS_URL, filled in from the redis image.
api.connect(redis)
worker.connect(redis)
