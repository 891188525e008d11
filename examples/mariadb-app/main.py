"""A shop API on MariaDB: clockwork creates the schema, applies the migrations, and gives
the API its DATABASE_URL (mysql://...).

Compile with `clockwork build`; run with `clockwork apply`, `clockwork assert`, `clockwork destroy`.
Set DB_PASSWORD and DB_ROOT_PASSWORD in the environment or in .env first.
"""

from clockwork_compose import DatabaseConnection, DockerResource, HttpProbe, Secret

# MariaDB: the image creates the database and the user from MARIADB_* on its first start.
mariadb = DockerResource(
    description="MariaDB database",
    name="shop-db",
    image="mariadb:11",
    ports=["3306:3306"],
    env_vars={
        "MARIADB_DATABASE": "shop",
        "MARIADB_USER": "shop",
        "MARIADB_PASSWORD": Secret("DB_PASSWORD"),
        "MARIADB_ROOT_PASSWORD": Secret("DB_ROOT_PASSWORD"),
    },
)

# The API: built from ./app (python + PyMySQL); ready once GET /health answers.
api = DockerResource(
    description="Shop API (stores items in MariaDB)",
    name="shop-api",
    image="clockwork-examples/shop-api:1",
    build="./app",
    ports=["8080:80"],
    readiness=HttpProbe("/health", port=80),
)

# DATABASE_URL=mysql://shop:<password>@shop-db:3306/shop; the API starts once the schema
# and the migrations are applied.
api.connect(DatabaseConnection(to_resource=mariadb, schema_file="schema.sql", migrations_dir="migrations"))
