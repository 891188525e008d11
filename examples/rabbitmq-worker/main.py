"""A worker that consumes RabbitMQ: jobs come in on the "jobs" queue, each answer goes to
the queue named in the job's reply_to. clockwork gives the worker its AMQP_URL and starts
it once RabbitMQ accepts clients.

Compile with `clockwork build`; run with `clockwork apply`, `clockwork assert`, `clockwork destroy`.
Try it: `docker exec rabbitmq-worker python3 worker.py send "hello"` prints HELLO.
"""

from clockwork_compose import CommandProbe, DockerResource, Secret

# RabbitMQ with its management UI on http://localhost:15672 (user "app"). clockwork gives
# it a fixed hostname: RabbitMQ keeps its data under its node name, rabbit@<hostname>.
rabbitmq = DockerResource(
    description="RabbitMQ broker",
    name="rabbitmq",
    image="rabbitmq:3-management",
    ports=["15672:15672"],
    env_vars={
        "RABBITMQ_DEFAULT_USER": "app",
        "RABBITMQ_DEFAULT_PASS": Secret("RABBITMQ_PASSWORD"),
        "RABBITMQ_DEFAULT_VHOST": "jobs/v1",
    },
)

# The worker: AMQP_URL=amqp://app:<password>@rabbitmq:5672/jobs%2Fv1; ready once it consumes.
worker = DockerResource(
    description="Job worker (consumes the jobs queue)",
    name="rabbitmq-worker",
    image="clockwork-examples/rabbitmq-worker:1",
    build="./worker",
    readiness=CommandProbe(["test", "-e", "/tmp/consuming"]),
)
worker.connect(rabbitmq)
