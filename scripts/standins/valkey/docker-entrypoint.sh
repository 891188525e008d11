#!/bin/sh
# Entrypoint of the valkey/valkey:8 and eqalpha/keydb stand-ins (Debian's redis-server
# 7.0 under the image's own names: <flavor>-server, <flavor>-cli), as the official images
# behave: "docker run image --opt" means "<flavor>-server --opt", protected mode off,
# data in /data, the server runs as an unprivileged user.
set -eu

server=${STANDIN_FLAVOR:-valkey}-server
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- "$server" "$@"
fi

if [ "$1" = "$server" ]; then
    shift
    conf=""
    if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
        conf=$1
        shift
    fi
    if [ -n "$conf" ]; then
        set -- "$server" "$conf" --protected-mode no "$@"
    else
        set -- "$server" --protected-mode no "$@"
    fi
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
