#!/bin/sh
# Entrypoint of the redis stand-in (mirrors the official image's behaviour).
set -eu

# "docker run image --appendonly yes" or "... /path/redis.conf" means redis-server.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
    shift
    conf=""
    if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
        conf=$1
        shift
    fi
    # The official image's redis is built with protected mode off; a later
    # "--protected-mode yes" on the command line still wins.
    if [ -n "$conf" ]; then
        set -- redis-server "$conf" --protected-mode no "$@"
    else
        set -- redis-server --protected-mode no "$@"
    fi
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
