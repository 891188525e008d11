"""``clockwork apply --target swarm`` on three nodes (scripts/swarm-lab.sh), and a rolling
re-apply there.

Needs a lab that is up (``bash scripts/swarm-lab.sh up 3``): skipped otherwise, as creating
one takes minutes. The example's copy runs its API at two replicas, its data on node2; its
images go to the lab registry (the stand-ins as the nodes' Docker Hub mirror, the built
ones pushed by ``apply --registry``). Rows:

- apply on three nodes, from nothing (images already on the nodes), against the ordered
  apply on one node that the ``swarm`` benchmark measured in the same run (when it ran);
- a rolling re-apply of the API (one environment value changed): its time, and the fewest
  running API tasks seen during it, polled every 0.2 s (a task with a healthcheck counts as
  running only once healthy). Goal: never fewer than one.
"""

from __future__ import annotations

import json
import statistics
import threading
import time

from ._proc import REPO, BenchError, clockwork, run
from ._report import Row, skipped
from ._settings import Settings

NAME = "swarm lab"
SCRIPT = REPO / "scripts" / "swarm-lab.sh"
STACK = "connected-services"
DATA_NODE = "clockwork-lab-node2"
IMAGES = ("postgres:15-alpine", "redis:7-alpine", "connected-services-api-server", "connected-services-worker-service")


def run_benchmark(settings: Settings) -> list[Row]:
    status = run(["bash", str(SCRIPT), "status"], check=False, env={"DOCKER_HOST": ""})
    if status.returncode != 0:
        return [skipped(NAME, "apply --target swarm on 3 nodes", "no lab: bash scripts/swarm-lab.sh up 3")]
    values = dict(line.split("=", 1) for line in status.stdout.splitlines() if line.startswith(("DOCKER_HOST=", "REG")))
    tools = f"{values['REGISTRY']}/clockwork-lab-tools:1"
    env = {"DOCKER_HOST": values["DOCKER_HOST"], "CLOCKWORK_SWARM_TOOLS_IMAGE": tools}
    run(["bash", str(SCRIPT), "mirror", *IMAGES], env={"DOCKER_HOST": ""})
    for image in IMAGES[2:]:
        run(["docker", "pull", "-q", image], env=env)
    project = settings.copy_example("swarm-lab")
    main = project / "main.py"
    main.write_text(main.read_text().replace('name="api-server",', 'name="api-server",\n    replicas=2,'))
    for data in ("postgres-db", "redis-cache"):
        run(["docker", "node", "update", "--label-add", f"clockwork.data.{STACK}.{data}=true", DATA_NODE], env=env)
    apply = clockwork("apply", "--target", "swarm", "--registry", values["REGISTRY"], "-C", str(project))
    destroy = clockwork("destroy", "--target", "swarm", "-C", str(project))
    try:
        reps = 1 if settings.quick else 3
        applies = []
        for _ in range(reps):
            applies.append(run(apply, env=env).seconds)
            run(destroy, env=env)
        run(apply, env=env)  # the stack the re-apply rolls
        rolling, fewest, samples = _rolling(main, apply, env)
    finally:
        run(destroy, env=env, check=False)
        for data in ("postgres-db", "redis-cache"):
            label = f"clockwork.data.{STACK}.{data}"
            run(["docker", "node", "update", "--label-rm", label, DATA_NODE], env=env, check=False)
    ours = statistics.median(applies)
    one = settings.extra.get("swarm apply one node")
    return [
        Row(
            NAME,
            "apply --target swarm, 3 nodes (example, API x2) vs 1 node (example)",
            ours,
            one,
            note=f"median of {reps}, from nothing, images on the nodes"
            + ("" if one else "; run with --only swarm for the one-node number"),
            samples={"clockwork": applies},
        ),
        Row(NAME, "rolling re-apply of the API (2 replicas), 3 nodes", rolling, note="one environment value changed"),
        Row(
            NAME,
            "fewest running (healthy) API tasks during that re-apply",
            float(fewest),
            unit="tasks",
            goal=">= 1 at every moment",
            met=fewest >= 1,
            note=f"{samples} polls, 0.2 s apart",
        ),
    ]


def _rolling(main, apply: list[str], env: dict[str, str]) -> tuple[float, int, int]:  # noqa: ANN001 (a Path)
    main.write_text(main.read_text().replace("    replicas=2,", '    replicas=2,\n    env_vars={"RELEASE": "2"},'))
    counts: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            counts.append(_running(env))
            time.sleep(0.2)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        seconds = run(apply, env=env).seconds
    finally:
        stop.set()
        poller.join()
    if not counts:
        raise BenchError("no poll of the API's tasks during the re-apply")
    return seconds, min(counts), len(counts)


def _running(env: dict[str, str]) -> int:
    listed = run(
        ["docker", "service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", f"{STACK}_api-server"],
        env=env,
        check=False,
    )
    ids = listed.stdout.split()
    if not ids:
        return 0
    tasks = json.loads(run(["docker", "inspect", "--type", "task", *ids], env=env, check=False).stdout or "[]")
    return sum(1 for t in tasks if t["Status"]["State"] == "running")
