#!/usr/bin/env bash
# Provision a working Docker Engine + Compose v2 on Debian 12 (bookworm), as root.
#
# Idempotent: on a machine where everything is present and dockerd runs, this
# takes a second or two. On a fresh machine it installs:
#   - Docker Engine 26 (Debian trixie's docker.io and containerd; bookworm's 20.10
#     with CLOCKWORK_ENGINE=bookworm) and mmdebstrap from bookworm,
#   - Compose v2 (the docker CLI plugin) from Debian trixie's `docker-compose`
#     package,
# trixie's packages fetched through a private, temporary apt sources list so that
# nothing else from trixie is mixed into the system; every other dependency comes
# from bookworm. An engine older than 25 is stopped, upgraded and started again.
# then starts dockerd detached and waits until `docker info` answers.
# See docs: /work/shared/docs/docker-engine.md (engine notes).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
log() { printf '[provision-docker] %s\n' "$*"; }
die() { printf '[provision-docker] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# Wait for the dpkg lock instead of failing (another apt may be running).
APT_LOCK_OPTS=(-o DPkg::Lock::Timeout=300)
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        apt-get "${APT_LOCK_OPTS[@]}" update -qq </dev/null
        APT_UPDATED=1
    fi
}
apt_install() {
    apt_update_once
    log "apt-get install $*"
    apt-get "${APT_LOCK_OPTS[@]}" install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}

. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

# ---------------------------------------------------------------- trixie
# Debian trixie's packages, fetched through a private, temporary apt sources list so that
# nothing else from trixie is mixed into the system: `trixie_download DIR PKG...` leaves
# the .deb files in DIR.
trixie_download() {
    local dir=$1 mirror work
    shift
    mirror=$(debian_mirror_uri)
    work=$(mktemp -d /tmp/provision-trixie.XXXXXX)
    chmod 755 "$work" "$dir"  # apt downloads as the _apt user
    mkdir -p "$work/lists/partial" "$work/archives/partial"
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' \
        "$mirror" >"$work/trixie.list"
    local apt_opts=(-o "Dir::Etc::SourceList=$work/trixie.list"
                    -o "Dir::Etc::SourceParts=/dev/null"
                    -o "Dir::State::Lists=$work/lists"
                    -o "Dir::Cache::Archives=$work/archives"
                    -o "APT::Get::List-Cleanup=0")
    log "apt-get update (private trixie list, temporary)"
    apt-get "${apt_opts[@]}" update -qq </dev/null
    (cd "$dir" && apt-get "${apt_opts[@]}" download "$@" </dev/null >/dev/null 2>&1)
    rm -rf "$work"
}

# Install local .deb files, their other dependencies from the machine's own sources.
# (dpkg has no lock wait of its own: install through apt, which waits for the lock.)
install_debs() {
    apt_update_once
    log "installing$(printf ' %s' "${@##*/}")"
    apt-get "${APT_LOCK_OPTS[@]}" install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}

# ---------------------------------------------------------------- engine
# Docker Engine 25 or later: the files clockwork writes by default probe every second only
# while a service starts (healthcheck start_interval, API 1.44). Bookworm's docker.io is
# 20.10, so the engine is trixie's docker.io 26.1 (with its docker-cli and containerd 1.7); every other
# dependency comes from bookworm. CLOCKWORK_ENGINE=bookworm keeps bookworm's 20.10 (then
# declare ProjectSettings(min_engine="20.10") in main.py).
ENGINE_MIN_MAJOR=25
engine_major() { dockerd --version 2>/dev/null | sed -nE 's/^Docker version ([0-9]+)\..*/\1/p'; }

# A live (not zombie) dockerd process.
dockerd_alive() { ps -C dockerd -o stat= 2>/dev/null | grep -qv '^Z'; }

stop_dockerd() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -o -x dockerd || true)
    [ -n "$pid" ] || return 0
    log "stopping dockerd $(engine_major).x (pid $pid) to upgrade it"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do dockerd_alive || break; sleep 0.5; done
    dockerd_alive && die "dockerd (pid $pid) did not stop within 30 s"
    rm -f /var/run/docker.pid
}

if [ "${CLOCKWORK_ENGINE:-}" = bookworm ]; then
    command -v dockerd >/dev/null 2>&1 || apt_install docker.io
elif [ "$(engine_major)" -ge "$ENGINE_MIN_MAJOR" ] 2>/dev/null; then
    log "dockerd present: $(dockerd --version)"
else
    debs=$(mktemp -d /tmp/provision-engine.XXXXXX)
    trap 'rm -rf "$debs"' EXIT
    log "installing Docker Engine 26 from Debian trixie's docker.io (was: $(dockerd --version 2>/dev/null || echo none))"
    trixie_download "$debs" docker.io docker-cli containerd
    ls "$debs"/docker.io_*.deb >/dev/null 2>&1 || die "apt-get download docker.io (trixie) produced no .deb"
    stop_dockerd
    install_debs "$debs"/*.deb
    rm -rf "$debs"
    trap - EXIT
    [ "$(engine_major)" -ge "$ENGINE_MIN_MAJOR" ] || die "dockerd reports $(dockerd --version) after the upgrade"
fi
if ! command -v docker >/dev/null 2>&1; then
    die "no docker CLI on PATH after installing docker.io"
fi
if command -v mmdebstrap >/dev/null 2>&1; then
    log "mmdebstrap present"
else
    apt_install mmdebstrap
fi

# ---------------------------------------------------------------- compose v2
compose_is_v2() {
    local v
    v=$(docker compose version --short 2>/dev/null || true)
    v=${v#v}
    case "$v" in 2.*|3.*|4.*) return 0 ;; *) return 1 ;; esac
}

# Make the plugin visible to whichever docker CLI is first on PATH.
link_compose_plugin() {
    local src="" d
    for d in /usr/libexec/docker/cli-plugins /usr/lib/docker/cli-plugins \
             /usr/local/lib/docker/cli-plugins /usr/local/libexec/docker/cli-plugins \
             "${HOME:-/root}/.docker/cli-plugins"; do
        if [ -x "$d/docker-compose" ]; then src="$d/docker-compose"; break; fi
    done
    [ -n "$src" ] || return 1
    compose_is_v2 && return 0
    for d in /usr/local/lib/docker/cli-plugins "${HOME:-/root}/.docker/cli-plugins"; do
        mkdir -p "$d"
        [ -e "$d/docker-compose" ] || ln -sf "$src" "$d/docker-compose"
        if compose_is_v2; then log "linked $src into $d"; return 0; fi
    done
    return 1
}

if compose_is_v2; then
    log "compose present: $(docker compose version --short 2>/dev/null)"
else
    if ! link_compose_plugin; then
        log "installing Compose v2 from Debian trixie's docker-compose package"
        debs=$(mktemp -d /tmp/provision-compose.XXXXXX)
        trap 'rm -rf "$debs"' EXIT
        trixie_download "$debs" docker-compose
        ls "$debs"/docker-compose_*.deb >/dev/null 2>&1 || die "apt-get download docker-compose produced no .deb"
        install_debs "$debs"/docker-compose_*.deb
        rm -rf "$debs"
        trap - EXIT
        link_compose_plugin || true
    fi
    compose_is_v2 || die "docker compose does not report v2 after install (got: $(docker compose version 2>&1 | head -n1))"
    log "compose installed: $(docker compose version --short)"
fi

# ---------------------------------------------------------------- daemon

STARTED=0
start_dockerd() {
    STARTED=1
    if [ -e /var/run/docker.pid ]; then
        log "removing stale /var/run/docker.pid"
        rm -f /var/run/docker.pid
    fi
    log "starting dockerd (log: /var/log/dockerd.log)"
    setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &
}

if docker info >/dev/null 2>&1; then
    log "dockerd already running"
else
    if dockerd_alive; then
        log "dockerd process exists; waiting for it to answer"
    else
        start_dockerd
    fi
    ok=0
    for _ in $(seq 1 120); do
        if docker info >/dev/null 2>&1; then ok=1; break; fi
        # A daemon we waited for died (or was a leftover): start our own, once.
        if [ "$STARTED" = 0 ] && ! dockerd_alive; then start_dockerd; fi
        sleep 0.5
    done
    if [ "$ok" != 1 ]; then
        tail -n 30 /var/log/dockerd.log >&2 2>/dev/null || true
        die "dockerd did not answer within 60 s"
    fi
fi

log "ready: client $(docker version --format '{{.Client.Version}}' 2>/dev/null), engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null), compose $(docker compose version --short 2>/dev/null)"
