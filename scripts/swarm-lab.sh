#!/usr/bin/env bash
# A local multi-node Docker Swarm for tests and for trying clockwork on many nodes.
#
#   bash scripts/swarm-lab.sh up [N]        N >= 3 nodes (default 3): one manager, N-1 workers
#   bash scripts/swarm-lab.sh status        containers, swarm nodes, registry; exit 0 when healthy
#   bash scripts/swarm-lab.sh push IMAGE... copy local images into the lab registry
#   bash scripts/swarm-lab.sh mirror IMAGE... the same, as the nodes' Docker Hub mirror: the
#                                           nodes then pull each under its own name
#   bash scripts/swarm-lab.sh down [--keep-images]
#
# Each node is a container running its own dockerd (Docker Engine 26: Debian trixie's docker.io
# and containerd, everything else from bookworm, in an mmdebstrap rootfs that is `docker
# import`ed), with /var/lib/docker on a named volume, so
# that `docker stop/start clockwork-lab-nodeK` is a reboot: the node's swarm state survives
# and it rejoins. The host engine is never put into swarm mode. --privileged is refused on
# these machines: the capabilities and mounts below replace it (shared/docs/docker-engine.md
# section 4b). The kernel has VXLAN but no IPVS: services need endpoint_mode dnsrr and
# host-mode ports.
#
# Images: a registry (Debian's docker-registry) runs on the lab network and is published on
# 127.0.0.1:REGISTRY_PORT of this machine. Each node forwards 127.0.0.1:REGISTRY_PORT of its
# own to the registry, so `127.0.0.1:REGISTRY_PORT/NAME:TAG` is one name that works on both
# sides: the host engine pushes there (dockerd treats 127.0.0.0/8 registries as insecure by
# default) and every node pulls it. Use that name in a stack file.
#
# The registry is also each node's mirror of Docker Hub (registry-mirrors): `mirror IMAGE`
# pushes a local image as library/NAME:TAG (or NS/NAME:TAG), so a stack file that says
# `image: postgres:15-alpine` runs on every node, offline.
#
# Output of `up`: progress on stderr; on stdout three lines, the last two being:
#   CLOCKWORK_SWARM_TOOLS_IMAGE=127.0.0.1:REGISTRY_PORT/clockwork-lab-tools:1
#                                              the docker CLI image clockwork's jobs run on nodes
#   DOCKER_HOST=tcp://127.0.0.1:MANAGER_PORT   the manager's dockerd (plain TCP, 127.0.0.1 only)
#   REGISTRY=127.0.0.1:REGISTRY_PORT
# so `export $(bash scripts/swarm-lab.sh up 3)` points docker and clockwork at the lab.
#
# Everything it makes (containers, volumes, the network, image tags) is named clockwork-lab*
# and labelled dev.clockwork.lab=1; `down` removes exactly that. `push` leaves no tag on the
# host (it tags, pushes and untags).
#
# Env: CLOCKWORK_LAB_REGISTRY_PORT (17000), CLOCKWORK_LAB_MANAGER_PORT (17001): host ports,
# read only when the lab is created (later runs read them from the running lab).
# REBUILD_LAB_IMAGES=1 rebuilds the images.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
lab="$here/swarm-lab"

PREFIX=clockwork-lab
LABEL=dev.clockwork.lab
HASH_LABEL=dev.clockwork.lab.hash
NETWORK=$PREFIX
REGISTRY=$PREFIX-registry
BASE_TAG=$PREFIX-base:bookworm
NODE_TAG=$PREFIX-node:bookworm
REGISTRY_TAG=$PREFIX-registry:bookworm
TOOLS_TAG=$PREFIX-tools:1
BASE_PACKAGES=docker.io/trixie,docker-cli/trixie,containerd/trixie,docker-registry,tini,socat,iproute2,iptables,procps,ca-certificates,curl,busybox-static
BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# What replaces --privileged (docker-engine.md 4b); the host uses cgroup v1.
# Engine 20.10 grants ALL literally and fails on what this machine's bounding set lacks
# (CAP_SYS_RESOURCE); later engines grant ALL of the bounding set and refuse to drop what is
# not in it.
NODE_RUN_OPTS=(--cap-add ALL
               --security-opt seccomp=unconfined --security-opt apparmor=unconfined
               --security-opt systempaths=unconfined --device /dev/net/tun
               --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw
               --tmpfs /run:rw,exec,mode=755 --stop-timeout 30)

export DOCKER_BUILDKIT=0   # the legacy builder works offline on local base images

log() { printf '[swarm-lab] %s\n' "$*" >&2; }
die() { printf '[swarm-lab] ERROR: %s\n' "$*" >&2; exit 1; }

. "$here/lib.sh"

# The lab is made on this machine's engine. A shell that exported the DOCKER_HOST printed
# by `up` points docker at the lab's manager: the lab must not be made (or removed) inside
# itself, so such a DOCKER_HOST is set aside.
if [ -n "${DOCKER_HOST:-}" ] && docker info --format '{{.Name}}' 2>/dev/null | grep -q "^$PREFIX-node"; then
    log "DOCKER_HOST=$DOCKER_HOST is the lab's own manager: using this machine's engine instead"
    unset DOCKER_HOST
fi

engine_major=$(docker version --format '{{.Server.Version}}' 2>/dev/null | cut -d. -f1)
if [ "${engine_major:-0}" -lt 23 ] 2>/dev/null; then NODE_RUN_OPTS+=(--cap-drop SYS_RESOURCE); fi

node_name() { printf '%s-node%s' "$PREFIX" "$1"; }
exists() { docker "$1" inspect "$2" >/dev/null 2>&1; }  # KIND NAME
label_of() {  # KIND NAME LABEL: the value, empty when unset or absent
    docker "$1" inspect --format "{{ index .Config.Labels \"$3\" }}" "$2" 2>/dev/null | sed 's/<no value>//' || true
}
ours() {  # KIND NAME: whether NAME carries the lab's label (never touch anything else)
    local labels
    case $1 in
        container|image) labels='{{ index .Config.Labels "'$LABEL'" }}' ;;
        *) labels='{{ index .Labels "'$LABEL'" }}' ;;
    esac
    [ "$(docker "$1" inspect --format "$labels" "$2" 2>/dev/null)" = 1 ]
}
in_node() { local n=$1; shift; docker exec "$n" "$@"; }  # NODE CMD...: run CMD in a node

# ------------------------------------------------------------------ images
# An mmdebstrap rootfs imported as the base, then two thin layers (node, registry), each
# rebuilt only when its recipe's hash changes (as scripts/build-test-images.sh does).
ensure_base() {
    local want have mirror tmp t0
    want=$(hash_inputs -- "$BASE_PACKAGES" "$BASE_PATH" "lab-base-v1")
    have=$(label_of image "$BASE_TAG" "$HASH_LABEL")
    if [ "$have" = "$want" ] && [ "${REBUILD_LAB_IMAGES:-0}" != 1 ]; then
        return
    fi
    if ! command -v mmdebstrap >/dev/null; then
        [ "$(id -u)" = 0 ] || die "mmdebstrap missing: apt-get install mmdebstrap (as root)"
        log "installing mmdebstrap"
        apt-get -o DPkg::Lock::Timeout=300 update -qq </dev/null
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends mmdebstrap </dev/null >/dev/null
    fi
    t0=$(date +%s)
    mirror=$(debian_mirror_uri)
    tmp=$(mktemp -d /tmp/clockwork-lab-base.XXXXXX)
    log "$BASE_TAG: building the rootfs with mmdebstrap (a minute or two)"
    mmdebstrap --quiet --variant=apt --include="$BASE_PACKAGES" \
        --aptopt='APT::Default-Release "bookworm"' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/var/lib/docker "$1"/var/lib/docker-registry/*' \
        bookworm "$tmp/rootfs.tar" \
        "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $mirror trixie main" </dev/null \
        || { rm -rf "$tmp"; die "mmdebstrap failed"; }
    docker import \
        --change "ENV PATH=$BASE_PATH" \
        --change "ENV LANG=C.UTF-8" \
        --change "LABEL $LABEL=1" \
        --change "LABEL $HASH_LABEL=$want" \
        --change 'CMD ["/bin/bash"]' \
        "$tmp/rootfs.tar" "$BASE_TAG" >/dev/null
    rm -rf "$tmp"
    log "$BASE_TAG: built ($(( $(date +%s) - t0 )) s)"
}

ensure_layer() {  # TAG DIR
    local tag=$1 dir=$2 want have
    want=$(hash_inputs "$dir" -- "$(docker image inspect --format '{{.Id}}' "$BASE_TAG")")
    have=$(label_of image "$tag" "$HASH_LABEL")
    [ "$have" = "$want" ] && return
    quiet docker build -q --pull=false --build-arg "BASE=$BASE_TAG" \
        --label "$LABEL=1" --label "$HASH_LABEL=$want" -t "$tag" "$dir"
    log "$tag: built"
}

ensure_images() {
    ensure_base
    ensure_layer "$NODE_TAG" "$lab/node"
    ensure_layer "$REGISTRY_TAG" "$lab/registry"
    ensure_layer "$TOOLS_TAG" "$lab/tools"
    # Images a rebuild left untagged, unless a container still runs them.
    docker image prune -f --filter "label=$LABEL=1" >/dev/null 2>&1 || true
}

# ------------------------------------------------------------------ network
# Static addresses, so that a node restarted with `docker start` keeps the address the
# swarm knows it by, and so that nothing depends on the host engine's embedded DNS (it
# stops answering on this network while the host engine is in swarm mode). Docker picks a free subnet (it knows every other network and the
# routes); the network is then made again with that subnet written down, which --ip needs.
ensure_network() {
    local subnet
    if exists network "$NETWORK"; then
        ours network "$NETWORK" || die "network $NETWORK exists but is not the lab's (no $LABEL label)"
    else
        docker network create --label "$LABEL=1" "$NETWORK" >/dev/null
        subnet=$(docker network inspect --format '{{ (index .IPAM.Config 0).Subnet }}' "$NETWORK")
        docker network rm "$NETWORK" >/dev/null
        docker network create --label "$LABEL=1" --subnet "$subnet" "$NETWORK" >/dev/null
        log "network $NETWORK: $subnet"
    fi
    SUBNET=$(docker network inspect --format '{{ (index .IPAM.Config 0).Subnet }}' "$NETWORK")
    case $SUBNET in
        *.0/1[6-9]|*.0/2[0-4]) ;;
        *) die "network $NETWORK has subnet $SUBNET; the lab needs a /24 or larger: run down, then up" ;;
    esac
    NET_PREFIX=${SUBNET%.*}  # x.y.z of x.y.z.0/NN
}
registry_ip() { printf '%s.2' "$NET_PREFIX"; }
node_ip() { printf '%s.%s' "$NET_PREFIX" $(( 10 + $1 )); }

# ------------------------------------------------------------------ containers
# ensure_container NAME RUN-ARGS...: running afterwards; created with RUN-ARGS when absent,
# started when stopped, left alone when running.
ensure_container() {
    local name=$1 state
    shift
    state=$(docker inspect --format '{{.State.Status}}' "$name" 2>/dev/null || true)
    if [ -n "$state" ] && ! ours container "$name"; then
        die "container $name exists but is not the lab's (no $LABEL label)"
    fi
    case $state in
        running) ;;
        "") docker run -d --name "$name" --label "$LABEL=1" "$@" >/dev/null
            log "$name: created" ;;
        *)  docker start "$name" >/dev/null
            log "$name: started (was $state)" ;;
    esac
}

# Ports are fixed when the lab is made; later runs read them from the containers.
read_ports() {
    REGISTRY_PORT=$(label_of container "$REGISTRY" "$LABEL.registry-port")
    MANAGER_PORT=$(label_of container "$(node_name 1)" "$LABEL.manager-port")
    REGISTRY_PORT=${REGISTRY_PORT:-${CLOCKWORK_LAB_REGISTRY_PORT:-17000}}
    MANAGER_PORT=${MANAGER_PORT:-${CLOCKWORK_LAB_MANAGER_PORT:-17001}}
}

ensure_volume() {  # NAME: made here, not by docker run, so that it carries the label
    if exists volume "$1"; then
        ours volume "$1" || die "volume $1 exists but is not the lab's (no $LABEL label)"
    else
        docker volume create --label "$LABEL=1" "$1" >/dev/null
    fi
}

ensure_registry() {
    ensure_volume "$REGISTRY"
    ensure_container "$REGISTRY" \
        --label "$LABEL.registry-port=$REGISTRY_PORT" \
        --network "$NETWORK" --ip "$(registry_ip)" --hostname "$REGISTRY" \
        -v "$REGISTRY:/var/lib/docker-registry" \
        -p "127.0.0.1:$REGISTRY_PORT:5000" \
        "$REGISTRY_TAG"
}

ensure_node() {  # INDEX
    local i=$1 name extra=()
    name=$(node_name "$i")
    [ "$i" = 1 ] && extra=(--label "$LABEL.manager-port=$MANAGER_PORT" -p "127.0.0.1:$MANAGER_PORT:2375")
    ensure_volume "$name"
    ensure_container "$name" "${NODE_RUN_OPTS[@]}" "${extra[@]}" \
        --network "$NETWORK" --ip "$(node_ip "$i")" --hostname "$name" \
        -v "$name:/var/lib/docker" \
        -e "LAB_REGISTRY_PORT=$REGISTRY_PORT" -e "LAB_REGISTRY_ADDR=$(registry_ip)" \
        --add-host "$REGISTRY:$(registry_ip)" \
        "$NODE_TAG"
}

wait_for() {  # SECONDS WHAT CMD...: poll CMD until it succeeds; its last output on failure
    local seconds=$1 what=$2 deadline out
    shift 2
    deadline=$(( $(date +%s) + seconds ))
    until out=$("$@" 2>&1); do
        [ "$(date +%s)" -lt "$deadline" ] || die "$what: not within ${seconds} s${out:+: $(tail -n 3 <<<"$out")}"
        sleep 0.5
    done
}

# ------------------------------------------------------------------ swarm
swarm_state() { in_node "$1" docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }
node_id() { in_node "$1" docker info --format '{{.Swarm.NodeID}}' 2>/dev/null || true; }
manager() { in_node "$(node_name 1)" docker "$@"; }
settled() { [ "$(swarm_state "$1")" != pending ]; }  # NODE: not between states (joining, rejoining)

ensure_manager() {
    local m state
    m=$(node_name 1)
    wait_for 60 "$m: swarm state settles" settled "$m"
    state=$(swarm_state "$m")
    case $state in
        inactive)
            manager swarm init --advertise-addr "$(node_ip 1)" --listen-addr "$(node_ip 1):2377" >/dev/null
            log "$m: swarm initialised (manager)" ;;
        active)
            [ "$(in_node "$m" docker info --format '{{.Swarm.ControlAvailable}}')" = true ] \
                || die "$m is in a swarm but not its manager: run down, then up" ;;
        *) die "$m: swarm state '$state': run down, then up" ;;
    esac
}

# A worker is right when it is active and the manager knows its node ID; otherwise it
# (re)joins. A manager whose state was lost would know none: they rejoin its new swarm.
ensure_worker() {  # INDEX TOKEN
    local w state id
    w=$(node_name "$1")
    wait_for 60 "$w: swarm state settles" settled "$w"
    state=$(swarm_state "$w")
    id=$(node_id "$w")
    if [ "$state" = active ] && [ -n "$id" ] && manager node inspect "$id" >/dev/null 2>&1; then
        return
    fi
    if [ "$state" != inactive ]; then
        in_node "$w" docker swarm leave --force >/dev/null 2>&1 || true
    fi
    in_node "$w" docker swarm join --token "$2" \
        --advertise-addr "$(node_ip "$1")" --listen-addr "$(node_ip "$1"):2377" "$(node_ip 1):2377" >/dev/null
    log "$w: joined (worker)"
}

# Entries the manager keeps for earlier incarnations of our nodes (a node whose volume was
# lost joins again with a new ID): one of our host names, and not the ID that any of the
# lab's node containers has now. The manager may still list such an entry as Ready for a
# few seconds, hence --force.
forget_stale_nodes() {
    local id host name current=" "
    for name in $(lab_nodes); do
        id=$(node_id "$name")
        # A node that does not answer (stopped) may still own an entry: keep them all.
        [ -n "$id" ] || { log "$name does not answer: stale swarm entries, if any, are kept"; return; }
        current="$current$id "
    done
    while read -r id host; do
        case $current in *" $id "*) continue ;; esac
        case $host in "$PREFIX"-node*) ;; *) continue ;; esac
        manager node rm --force "$id" >/dev/null && log "forgot stale swarm node $id ($host)"
    done < <(manager node ls --format '{{.ID}} {{.Hostname}}')
}

ready_count() {  # IDS...: how many of these nodes the manager reports Ready
    local want=" $* " id status n=0
    while read -r id status; do
        case $want in *" $id "*) [ "$status" = Ready ] && n=$((n + 1)) ;; esac
    done < <(manager node ls --format '{{.ID}} {{.Status}}' 2>/dev/null)
    echo "$n"
}
all_ready() { [ "$(ready_count "${@:2}")" = "$1" ]; }  # N IDS...

lab_nodes() {  # names of the lab's node containers, in order
    docker ps -a --filter "label=$LABEL=1" --format '{{.Names}}' | grep -E "^$PREFIX-node[0-9]+$" | sort -V || true
}

# ------------------------------------------------------------------ probes
# GET http://127.0.0.1:PORT/v2/ from this machine, without curl: the registry answers 200.
registry_answers_here() {
    local line
    exec 3<>"/dev/tcp/127.0.0.1/$REGISTRY_PORT" || return 1
    printf 'GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 5 line <&3 || true
    exec 3<&- 3>&-
    [[ $line == "HTTP/1."?" 200"* ]]
}
registry_answers_in() { in_node "$1" curl -fsS -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/v2/"; }
# Whether the host engine will push to the registry over plain HTTP.
host_trusts_registry() {
    docker info --format '{{range .RegistryConfig.InsecureRegistryCIDRs}}{{.}} {{end}}' 2>/dev/null \
        | tr ' ' '\n' | grep -qx '127.0.0.0/8' \
    || docker info --format '{{json .RegistryConfig.IndexConfigs}}' 2>/dev/null | grep -q "\"127.0.0.1:$REGISTRY_PORT\""
}

# ------------------------------------------------------------------ commands
cmd_up() {
    local n=${1:-3} i t0 token ids=() id extra
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 3 ] && [ "$n" -le 20 ] || die "up N: N must be a number from 3 to 20 (got '$n')"
    docker info >/dev/null 2>&1 || die "docker daemon not reachable (run scripts/provision-docker.sh first)"
    t0=$(date +%s)
    ensure_images
    ensure_network
    read_ports
    ensure_registry
    for i in $(seq 1 "$n"); do ensure_node "$i"; done
    for i in $(seq 1 "$n"); do
        wait_for 90 "$(node_name "$i"): dockerd answers (see docker logs $(node_name "$i"))" in_node "$(node_name "$i")" docker info
    done
    wait_for 30 "registry on 127.0.0.1:$REGISTRY_PORT" registry_answers_here
    ensure_manager
    token=$(manager swarm join-token -q worker)
    for i in $(seq 2 "$n"); do ensure_worker "$i" "$token"; done
    for i in $(seq 1 "$n"); do
        id=$(node_id "$(node_name "$i")")
        ids+=("$id")
        wait_for 30 "$(node_name "$i"): registry through 127.0.0.1:$REGISTRY_PORT" registry_answers_in "$(node_name "$i")"
    done
    forget_stale_nodes
    wait_for 90 "$n nodes ready" all_ready "$n" "${ids[@]}"
    host_trusts_registry || log "WARNING: the host engine does not treat 127.0.0.1:$REGISTRY_PORT as insecure: add it to insecure-registries to push"
    extra=$(lab_nodes | awk -v n="$n" -v p="$PREFIX-node" '{ i = substr($0, length(p) + 1) + 0; if (i > n) print }' | tr '\n' ' ')
    [ -z "$extra" ] || log "left as they are: $extra(more nodes than $n; down removes the whole lab)"
    push_one "$TOOLS_TAG" "127.0.0.1:$REGISTRY_PORT/$TOOLS_TAG" >/dev/null
    log "ready: $n nodes, 1 manager ($(( $(date +%s) - t0 )) s)"
    printf 'CLOCKWORK_SWARM_TOOLS_IMAGE=127.0.0.1:%s/%s\n' "$REGISTRY_PORT" "$TOOLS_TAG"
    printf 'DOCKER_HOST=tcp://127.0.0.1:%s\n' "$MANAGER_PORT"
    printf 'REGISTRY=127.0.0.1:%s\n' "$REGISTRY_PORT"
}

cmd_status() {
    local names healthy=0 n=0 id ids=()
    names=$(lab_nodes)
    if [ -z "$names" ] && ! exists container "$REGISTRY"; then
        echo "no lab (bash scripts/swarm-lab.sh up 3)"
        return 3
    fi
    docker ps -a --filter "label=$LABEL=1" --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}' | grep -E "^(NAMES|$PREFIX)"
    read_ports
    if [ -n "$names" ] && manager node ls >/dev/null 2>&1; then
        echo
        manager node ls
        for name in $names; do
            n=$((n + 1))
            id=$(node_id "$name")
            [ -n "$id" ] && ids+=("$id")
        done
        [ "$(ready_count "${ids[@]}")" = "$n" ] && healthy=1
    else
        echo "manager not answering"
    fi
    echo
    if registry_answers_here 2>/dev/null; then
        echo "registry 127.0.0.1:$REGISTRY_PORT: $(in_node "$(node_name 1)" curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/_catalog" 2>/dev/null || echo answering)"
    else
        echo "registry 127.0.0.1:$REGISTRY_PORT: not answering"
        healthy=0
    fi
    echo "DOCKER_HOST=tcp://127.0.0.1:$MANAGER_PORT"
    echo "REGISTRY=127.0.0.1:$REGISTRY_PORT"
    [ "$healthy" = 1 ]
}

# push_one IMAGE REF: IMAGE into the registry as REF; the tag made for the push is removed
# again unless it existed before. Prints REF.
push_one() {
    local image=$1 ref=$2 had=0
    exists image "$image" || die "no local image $image"
    exists image "$ref" && had=1
    docker tag "$image" "$ref"
    if ! quiet docker push "$ref"; then
        [ "$had" = 1 ] || docker rmi "$ref" >/dev/null 2>&1 || true
        die "push of $ref failed"
    fi
    [ "$had" = 1 ] || docker rmi "$ref" >/dev/null
    log "pushed $ref"
    printf '%s\n' "$ref"
}

# push IMAGE...: each local image goes to the registry as 127.0.0.1:PORT/IMAGE (the name
# the nodes pull too); prints that reference per image.
# mirror IMAGE...: each goes where a Docker Hub mirror keeps it (library/NAME:TAG for a
# one-part name), so the nodes pull it as IMAGE itself; prints IMAGE per image.
cmd_push() {
    local how=$1 image ref path
    shift
    [ "$#" -gt 0 ] || die "$how IMAGE...: name at least one local image"
    exists container "$REGISTRY" || die "no lab registry: run up first"
    read_ports
    registry_answers_here || die "the lab registry does not answer on 127.0.0.1:$REGISTRY_PORT: run up"
    for image in "$@"; do
        path=$image
        case ${image##*/} in *:*) ;; *) path="$path:latest" ;; esac
        if [ "$how" = mirror ]; then
            case $path in */*) ;; *) path="library/$path" ;; esac
            case ${path%%/*} in *.*|*:*|localhost) die "mirror $image: a Docker Hub name has no registry host" ;; esac
            push_one "$image" "127.0.0.1:$REGISTRY_PORT/$path" >/dev/null
            printf '%s\n' "$image"
        else
            push_one "$image" "127.0.0.1:$REGISTRY_PORT/$path"
        fi
    done
}

# Leftovers in the host's cgroup tree: each node's containers live under /<node name>
# (its daemon.json); a node removed with its containers running leaves empty directories.
tidy_cgroups() {
    local d
    for d in /sys/fs/cgroup/*/"$PREFIX"-node*; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}

cmd_down() {
    local keep_images=0 what
    [ "${1:-}" = --keep-images ] && keep_images=1
    docker info >/dev/null 2>&1 || die "docker daemon not reachable"
    # Only what carries the label AND the name: never anything else on the shared engine.
    what=$(docker ps -a --filter "label=$LABEL=1" --format '{{.Names}}' | grep "^$PREFIX" || true)
    [ -z "$what" ] || docker rm -f $what >/dev/null
    what=$(docker volume ls --filter "label=$LABEL=1" --format '{{.Name}}' | grep "^$PREFIX" || true)
    [ -z "$what" ] || docker volume rm $what >/dev/null
    what=$(docker network ls --filter "label=$LABEL=1" --format '{{.Name}}' | grep "^$PREFIX" || true)
    [ -z "$what" ] || docker network rm $what >/dev/null
    if [ "$keep_images" = 0 ]; then
        what=$(docker image ls --filter "label=$LABEL=1" --format '{{.Repository}}:{{.Tag}}' | grep "^$PREFIX" || true)
        [ -z "$what" ] || docker rmi $what >/dev/null
        docker image prune -f --filter "label=$LABEL=1" >/dev/null
    fi
    tidy_cgroups
    log "down: nothing of the lab is left$([ "$keep_images" = 1 ] && echo " but its images")"
}

# Two runs at once (two shells, two test runs) take turns.
case ${1:-} in
    up|down|push|mirror) exec 9>>/tmp/clockwork-lab.lock; flock 9 ;;
esac

case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) shift; cmd_down "$@" ;;
    status) shift; cmd_status ;;
    push|mirror) cmd_push "$@" ;;
    *) die "usage: swarm-lab.sh up [N] | status | push IMAGE... | mirror IMAGE... | down [--keep-images]" ;;
esac
