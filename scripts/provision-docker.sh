#!/usr/bin/env bash
# Provision a working Docker Engine + Compose v2 on Debian 12 (bookworm), as root.
#
# Idempotent: on a machine where everything is present and dockerd runs, this
# takes a second or two. On a fresh machine it installs:
#   - docker.io (Docker Engine 20.10) and mmdebstrap from bookworm,
#   - Compose v2 (the docker CLI plugin) from Debian trixie's `docker-compose`
#     package, fetched through a private, temporary apt sources list so that
#     nothing else from trixie is mixed into the system,
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

# ---------------------------------------------------------------- packages
if command -v dockerd >/dev/null 2>&1; then
    log "dockerd present: $(dockerd --version 2>/dev/null || echo '?')"
else
    apt_install docker.io
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
        mirror=$(debian_mirror_uri)
        work=$(mktemp -d /tmp/provision-compose.XXXXXX)
        chmod 755 "$work"  # apt downloads as the _apt user
        trap 'rm -rf "$work"' EXIT
        mkdir -p "$work/lists/partial" "$work/archives/partial"
        printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' \
            "$mirror" >"$work/trixie.list"
        apt_opts=(-o "Dir::Etc::SourceList=$work/trixie.list"
                  -o "Dir::Etc::SourceParts=/dev/null"
                  -o "Dir::State::Lists=$work/lists"
                  -o "Dir::Cache::Archives=$work/archives"
                  -o "APT::Get::List-Cleanup=0")
        log "apt-get update (private trixie list, temporary)"
        apt-get "${apt_opts[@]}" update -qq </dev/null
        (cd "$work" && apt-get "${apt_opts[@]}" download docker-compose </dev/null >/dev/null)
        deb=$(ls "$work"/docker-compose_*.deb 2>/dev/null | head -n1)
        [ -n "$deb" ] || die "apt-get download docker-compose produced no .deb"
        log "dpkg -i $(basename "$deb")"
        # dpkg has no lock wait of its own: wait for the frontend lock through apt.
        apt-get "${APT_LOCK_OPTS[@]}" install -y -qq --no-install-recommends "$deb" </dev/null >/dev/null 2>&1 || dpkg -i "$deb" >/dev/null
        rm -rf "$work"
        trap - EXIT
        link_compose_plugin || true
    fi
    compose_is_v2 || die "docker compose does not report v2 after install (got: $(docker compose version 2>&1 | head -n1))"
    log "compose installed: $(docker compose version --short)"
fi

# ---------------------------------------------------------------- daemon
# A live (not zombie) dockerd process.
dockerd_alive() { ps -C dockerd -o stat= 2>/dev/null | grep -qv '^Z'; }

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
