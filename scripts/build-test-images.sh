#!/usr/bin/env bash
# Make every image the connected-services example and the tests need.
#
# For each tag: keep it when it is already present with the right content;
# otherwise try the real image (docker pull, or a real build of the example's
# Dockerfile); otherwise build a local stand-in from Debian packages under the
# same tag (this machine has no registry). Idempotent: a second run with
# everything present only inspects images and takes seconds.
#
#   postgres:15-alpine                 official image, or Debian postgresql-15 stand-in
#   redis:7-alpine                     official image, or Debian redis-server stand-in
#   connected-services-api-server      name Compose v2 gives the example's build: service
#   connected-services-worker-service  idem
#   clockwork-standin-base:bookworm    mmdebstrap rootfs the stand-ins are built on
#
# The other engines clockwork knows (their end-to-end tests and examples):
#   mariadb:11                         official image, or Debian mariadb-server 10.11 stand-in
#   mysql:8.4                          official image, or the SAME MariaDB 10.11 stand-in
#                                      reading MYSQL_* only: tests on this tag test MariaDB
#   rabbitmq:3-management              official image, or Debian rabbitmq-server 3.10 stand-in
#   valkey/valkey:8                    official image, or Debian redis-server 7.0 as valkey-*
#   eqalpha/keydb:latest               official image, or Debian redis-server 7.0 as keydb-*
#   clockwork-examples/shop-api:1      examples/mariadb-app's API and examples/rabbitmq-worker's
#   clockwork-examples/rabbitmq-worker:1  worker (on python:3.12-slim, else the engines base)
#   clockwork-standin-engines:bookworm second rootfs (MariaDB, Erlang/RabbitMQ, Python
#                                      clients for them): kept apart so that the
#                                      common base stays small and fast to build
#
# Env: FORCE_STANDINS=1 skips pulls/real builds; REBUILD_BASE=1 rebuilds the bases;
# SKIP_ENGINES=1 makes only the connected-services images.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
standins="$here/standins"
example="$repo/examples/connected-services"

BASE_TAG=clockwork-standin-base:bookworm
LABEL=org.clockwork-compose.standin.hash
PULL_TIMEOUT=${PULL_TIMEOUT:-20}
BASE_PACKAGES=postgresql-15,postgresql-client-15,redis-server,redis-tools,python3,python3-fastapi,python3-uvicorn,python3-psycopg,python3-redis,ca-certificates,curl,util-linux,procps,findutils,gzip
BASE_PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENGINES_TAG=clockwork-standin-engines:bookworm
ENGINES_PACKAGES=mariadb-server,mariadb-client,rabbitmq-server,redis-tools,python3,python3-pymysql,python3-pika,ca-certificates,curl,util-linux,procps,findutils,gzip,hostname
ENGINES_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

export DOCKER_BUILDKIT=0   # the legacy builder works offline on local base images

log() { printf '[build-test-images] %s\n' "$*"; }
die() { printf '[build-test-images] ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "docker daemon not reachable (run scripts/provision-docker.sh first)"

. "$here/lib.sh"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_label() {  # prints the label value, "" when unset, nothing when image absent
    docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null | sed 's/<no value>//'
}
image_id() { docker image inspect --format '{{.Id}}' "$1"; }

# Whether a registry answers; probed once, only when something must be fetched.
REGISTRY=unknown
try_pull() {
    [ "${FORCE_STANDINS:-0}" = 1 ] && return 1
    [ "$REGISTRY" = down ] && return 1
    if timeout "$PULL_TIMEOUT" docker pull -q "$1" >/dev/null 2>&1; then
        REGISTRY=up
        return 0
    fi
    REGISTRY=down
    return 1
}

# ------------------------------------------------------------------ bases
# build_base TAG PACKAGES PATH: an mmdebstrap rootfs imported as TAG, unless TAG is present
# with the same recipe (packages, PATH, version of this function).
build_base() {
    local tag=$1 packages=$2 path=$3 want have t0 mirror tmp
    want=$(hash_inputs -- "$packages" "$path" "base-v1")
    have=$(image_label "$tag" || true)
    if image_exists "$tag" && [ "$have" = "$want" ] && [ "${REBUILD_BASE:-0}" != 1 ]; then
        log "$tag: present, skipped"
        return
    fi
    command -v mmdebstrap >/dev/null || die "mmdebstrap missing (run scripts/provision-docker.sh first)"
    t0=$(date +%s)
    mirror=$(debian_mirror_uri)
    tmp=$(mktemp -d /tmp/clockwork-standin-base.XXXXXX)
    log "$tag: building rootfs with mmdebstrap (a minute or two)"
    # Explicit mirror lines (mmdebstrap would otherwise read sources from stdin). The
    # packages' own data dirs are emptied: each stand-in initialises its own at start.
    mmdebstrap --quiet --variant=apt --include="$packages" \
        --customize-hook='rm -rf "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15 "$1"/var/lib/mysql/* "$1"/var/lib/rabbitmq/mnesia "$1"/var/lib/rabbitmq/.erlang.cookie "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
        bookworm "$tmp/rootfs.tar" \
        "deb $mirror bookworm main" "deb $mirror bookworm-updates main" </dev/null
    docker import \
        --change "ENV PATH=$path" \
        --change "ENV LANG=C.UTF-8" \
        --change "LABEL $LABEL=$want" \
        --change 'CMD ["/bin/bash"]' \
        "$tmp/rootfs.tar" "$tag" >/dev/null
    rm -rf "$tmp"
    log "$tag: built ($(( $(date +%s) - t0 )) s)"
}

BASES_READY=" "
ensure_base() {  # [TAG]: the common base by default
    local tag=${1:-$BASE_TAG}
    case $BASES_READY in *" $tag "*) return ;; esac
    BASES_READY="$BASES_READY$tag "
    if [ "$tag" = "$ENGINES_TAG" ]; then
        build_base "$ENGINES_TAG" "$ENGINES_PACKAGES" "$ENGINES_PATH"
    else
        build_base "$BASE_TAG" "$BASE_PACKAGES" "$BASE_PATH"
    fi
}

# Build a stand-in from a context dir; $1 tag, $2 context, $3 hash, [$4 dockerfile],
# [$5 base tag], [$6 extra build arg NAME=VALUE]
build_standin() {
    local tag=$1 ctx=$2 want=$3 dockerfile=${4:-Dockerfile} base=${5:-$BASE_TAG} arg=${6:-}
    quiet docker build -q --pull=false \
        --build-arg "BASE=$base" ${arg:+--build-arg "$arg"} \
        --label "$LABEL=$want" \
        -f "$ctx/$dockerfile" -t "$tag" "$ctx"
}

# ------------------------------------------------------------------ services
ensure_service_image() {  # tag standin-dir [base-tag] [build arg NAME=VALUE]
    local tag=$1 dir=$2 base=${3:-$BASE_TAG} arg=${4:-} want="" have="" t0
    if image_exists "$tag"; then
        have=$(image_label "$tag")
        if [ -z "$have" ]; then
            log "$tag: present (real image), skipped"
            return
        fi
        ensure_base "$base"
        want=$(hash_inputs "$dir" -- "$(image_id "$base")" $arg)
        if [ "$have" = "$want" ]; then
            log "$tag: present (stand-in, up to date), skipped"
            return
        fi
    fi
    if try_pull "$tag"; then
        log "$tag: pulled"
        return
    fi
    ensure_base "$base"
    want=$(hash_inputs "$dir" -- "$(image_id "$base")" $arg)
    t0=$(date +%s)
    build_standin "$tag" "$dir" "$want" Dockerfile "$base" "$arg"
    log "$tag: built stand-in ($(( $(date +%s) - t0 )) s)"
}

# An example's app whose Dockerfile takes its base as ARG BASE: the real one (python:3.12-slim,
# pip) where a registry answers, else the engines base, whose Debian packages hold its
# Python clients. Built under the tag its main.py names (image= next to build=).
ensure_example_app() {  # tag folder
    local tag=$1 dir=$2 want_real want have t0
    want_real="real-$(hash_inputs "$dir" -- real)"
    have=$(image_label "$tag" || true)
    if image_exists "$tag" && [ "$have" = "$want_real" ]; then
        log "$tag: present (built on python:3.12-slim, up to date), skipped"
        return
    fi
    if image_exists "$tag" && [ -n "$have" ] && [ "${have#real-}" = "$have" ]; then
        ensure_base "$ENGINES_TAG"
        want=$(hash_inputs "$dir" -- "$(image_id "$ENGINES_TAG")")
        if [ "$have" = "$want" ]; then
            log "$tag: present (on the engines base, up to date), skipped"
            return
        fi
    fi
    t0=$(date +%s)
    if [ "${FORCE_STANDINS:-0}" != 1 ] && { image_exists python:3.12-slim || try_pull python:3.12-slim; }; then
        if quiet docker build -q --label "$LABEL=$want_real" -t "$tag" "$dir"; then
            log "$tag: built on python:3.12-slim ($(( $(date +%s) - t0 )) s)"
            return
        fi
        log "$tag: real build failed, building on the engines base"
    fi
    ensure_base "$ENGINES_TAG"
    want=$(hash_inputs "$dir" -- "$(image_id "$ENGINES_TAG")")
    build_standin "$tag" "$dir" "$want" Dockerfile "$ENGINES_TAG"
    log "$tag: built on the engines base ($(( $(date +%s) - t0 )) s)"
}

# ------------------------------------------------------------------ example apps
# Cache key of an app image: its folder's content plus either "real" (built
# from its own Dockerfile) or the stand-in recipe and the base image it is on.
ensure_app_image() {  # service-name app-file
    local svc=$1 file=$2 tag="connected-services-$1" src="$example/$1"
    local want_real want have="" ctx t0
    [ -f "$src/$file" ] || die "$src/$file not found"
    want_real="real-$(hash_inputs "$src" -- real)"
    if image_exists "$tag"; then
        have=$(image_label "$tag")
        if [ "$have" = "$want_real" ]; then
            log "$tag: present (built from $svc/Dockerfile, up to date), skipped"
            return
        fi
        if [ -n "$have" ] && [ "${have#real-}" = "$have" ]; then
            ensure_base
            want=$(hash_inputs "$src" -- "$(cat "$standins/app/Dockerfile.$svc")" "$(image_id "$BASE_TAG")")
            if [ "$have" = "$want" ]; then
                log "$tag: present (stand-in, up to date), skipped"
                return
            fi
        fi
    fi
    t0=$(date +%s)
    # Where a registry answers, build the example's real Dockerfile.
    if [ "${FORCE_STANDINS:-0}" != 1 ] && { image_exists python:3.11-slim || try_pull python:3.11-slim; }; then
        if quiet docker build -q --label "$LABEL=$want_real" -t "$tag" "$src"; then
            log "$tag: built from $svc/Dockerfile ($(( $(date +%s) - t0 )) s)"
            return
        fi
        log "$tag: real build failed, falling back to a stand-in"
    fi
    ensure_base
    want=$(hash_inputs "$src" -- "$(cat "$standins/app/Dockerfile.$svc")" "$(image_id "$BASE_TAG")")
    ctx=$(mktemp -d /tmp/clockwork-standin-ctx.XXXXXX)
    cp "$src/$file" "$ctx/"
    cp "$standins/app/Dockerfile.$svc" "$ctx/Dockerfile"
    build_standin "$tag" "$ctx" "$want"
    rm -rf "$ctx"
    log "$tag: built stand-in ($(( $(date +%s) - t0 )) s)"
}

t_start=$(date +%s)
ensure_service_image postgres:15-alpine "$standins/postgres"
ensure_service_image redis:7-alpine "$standins/redis"
ensure_app_image api-server app.py
ensure_app_image worker-service worker.py
if [ "${SKIP_ENGINES:-0}" != 1 ]; then
    ensure_service_image valkey/valkey:8 "$standins/valkey" "$BASE_TAG" FLAVOR=valkey
    ensure_service_image eqalpha/keydb:latest "$standins/valkey" "$BASE_TAG" FLAVOR=keydb
    ensure_service_image mariadb:11 "$standins/mariadb" "$ENGINES_TAG" FLAVOR=mariadb
    ensure_service_image mysql:8.4 "$standins/mariadb" "$ENGINES_TAG" FLAVOR=mysql
    ensure_service_image rabbitmq:3-management "$standins/rabbitmq" "$ENGINES_TAG"
    ensure_example_app clockwork-examples/shop-api:1 "$repo/examples/mariadb-app/app"
    ensure_example_app clockwork-examples/rabbitmq-worker:1 "$repo/examples/rabbitmq-worker/worker"
fi
docker image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true
log "done in $(( $(date +%s) - t_start )) s"
