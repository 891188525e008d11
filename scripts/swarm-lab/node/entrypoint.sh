#!/bin/bash
# Entrypoint of a swarm-lab node: start dockerd cleanly, also after `docker stop/start`.
#
# Env (set by scripts/swarm-lab.sh):
#   LAB_REGISTRY_PORT  the lab registry's port on 127.0.0.1 of the host; the same port on
#                      127.0.0.1 of this node forwards to the registry on the lab network,
#                      so that 127.0.0.1:PORT/IMAGE names one image on both sides. It is
#                      also this node's mirror of Docker Hub: an image pushed there as
#                      library/NAME:TAG (swarm-lab.sh mirror) is pulled as NAME:TAG
#   LAB_REGISTRY_ADDR  the registry's (static) address on the lab network: an address, not
#                      its name, because the host engine's embedded DNS for the lab network
#                      stops answering while the host engine is in swarm mode (seen here)
set -euo pipefail
: "${LAB_REGISTRY_PORT:?}" "${LAB_REGISTRY_ADDR:?}"
node=$(hostname)

# Nothing of ours runs at container start: whatever a killed or stopped daemon left
# (pid files, sockets, containerd's state) is stale. /run is a tmpfs already; this also
# covers a node started without one.
rm -rf /var/run/docker.pid /var/run/docker.sock /var/run/docker /run/containerd

mkdir -p /etc/docker
# cgroup-parent keeps this node's containers under /<node> in the host's (shared, v1)
# cgroup tree, apart from the host engine's /docker, so that `down` can tidy them by name.
cat >/etc/docker/daemon.json <<JSON
{
  "insecure-registries": ["127.0.0.1:${LAB_REGISTRY_PORT}", "${LAB_REGISTRY_ADDR}:5000"],
  "registry-mirrors": ["http://127.0.0.1:${LAB_REGISTRY_PORT}"],
  "cgroup-parent": "/${node}",
  "storage-driver": "overlay2",
  "log-opts": {"max-size": "10m", "max-file": "2"},
  "shutdown-timeout": 10
}
JSON

socat "TCP-LISTEN:${LAB_REGISTRY_PORT},bind=127.0.0.1,fork,reuseaddr" "TCP:${LAB_REGISTRY_ADDR}:5000" &

# The manager's API is published on the host's 127.0.0.1 only (scripts/swarm-lab.sh);
# on the lab network, only the lab's own containers can reach it. --tls=false says so
# explicitly: without it dockerd 20.10 waits 15 s at every start to warn about plain TCP.
exec dockerd -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2375 --tls=false
