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
# Env: FORCE_STANDINS=1 skips pulls/real builds; REBUILD_BASE=1 rebuilds the base.
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

export DOCKER_BUILDKIT=0   # the legacy builder works offline on local base images

log() { printf '[build-test-images] %s\n' "$*"; }
die() { printf '[build-test-images] ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "docker daemon not reachable (run scripts/provision-docker.sh first)"

# Run a command, showing its output only when it fails (the legacy builder
# prints a deprecation banner on every build).
quiet() {
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then printf '%s\n' "$out" >&2; fi
    return "$rc"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_label() {  # prints the label value, "" when unset, nothing when image absent
    docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null | sed 's/<no value>//'
}
image_id() { docker image inspect --format '{{.Id}}' "$1"; }

# Hash of files (names + content) and extra strings.
hash_inputs() {  # hash_inputs DIR... -- STRING...
    {
        while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
            (cd "$1" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
                | LC_ALL=C sort -z | xargs -0 -r sha256sum)
            shift
        done
        [ "$#" -gt 0 ] && shift
        printf '%s\n' "$@"
    } | sha256sum | cut -c1-16
}

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

. "$here/lib.sh"

# ------------------------------------------------------------------ base
BASE_READY=0
ensure_base() {
    local want have t0 mirror tmp
    [ "$BASE_READY" = 1 ] && return
    BASE_READY=1
    want=$(hash_inputs -- "$BASE_PACKAGES" "$BASE_PATH" "base-v1")
    have=$(image_label "$BASE_TAG" || true)
    if image_exists "$BASE_TAG" && [ "$have" = "$want" ] && [ "${REBUILD_BASE:-0}" != 1 ]; then
        log "$BASE_TAG: present, skipped"
        return
    fi
    command -v mmdebstrap >/dev/null || die "mmdebstrap missing (run scripts/provision-docker.sh first)"
    t0=$(date +%s)
    mirror=$(debian_mirror_uri)
    tmp=$(mktemp -d /tmp/clockwork-standin-base.XXXXXX)
    log "$BASE_TAG: building rootfs with mmdebstrap (about a minute)"
    # Explicit mirror lines (mmdebstrap would otherwise read sources from stdin).
    mmdebstrap --quiet --variant=apt --include="$BASE_PACKAGES" \
        --customize-hook='rm -rf "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15 "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
        bookworm "$tmp/rootfs.tar" \
        "deb $mirror bookworm main" "deb $mirror bookworm-updates main" </dev/null
    docker import \
        --change "ENV PATH=$BASE_PATH" \
        --change "ENV LANG=C.UTF-8" \
        --change "LABEL $LABEL=$want" \
        --change 'CMD ["/bin/bash"]' \
        "$tmp/rootfs.tar" "$BASE_TAG" >/dev/null
    rm -rf "$tmp"
    log "$BASE_TAG: built ($(( $(date +%s) - t0 )) s)"
}

# Build a stand-in from a context dir; $1 tag, $2 context, $3 hash, [$4 dockerfile]
build_standin() {
    local tag=$1 ctx=$2 want=$3 dockerfile=${4:-Dockerfile}
    quiet docker build -q --pull=false \
        --build-arg "BASE=$BASE_TAG" \
        --label "$LABEL=$want" \
        -f "$ctx/$dockerfile" -t "$tag" "$ctx"
}

# ------------------------------------------------------------------ services
ensure_service_image() {  # tag standin-dir
    local tag=$1 dir=$2 want="" have="" t0
    if image_exists "$tag"; then
        have=$(image_label "$tag")
        if [ -z "$have" ]; then
            log "$tag: present (real image), skipped"
            return
        fi
        ensure_base
        want=$(hash_inputs "$dir" -- "$(image_id "$BASE_TAG")")
        if [ "$have" = "$want" ]; then
            log "$tag: present (stand-in, up to date), skipped"
            return
        fi
    fi
    if try_pull "$tag"; then
        log "$tag: pulled"
        return
    fi
    ensure_base
    want=$(hash_inputs "$dir" -- "$(image_id "$BASE_TAG")")
    t0=$(date +%s)
    build_standin "$tag" "$dir" "$want"
    log "$tag: built stand-in ($(( $(date +%s) - t0 )) s)"
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
docker image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true
log "done in $(( $(date +%s) - t_start )) s"
