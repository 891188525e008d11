#!/bin/sh
# Entrypoint of the rabbitmq:3-management stand-in (Debian's rabbitmq-server 3.10): a
# small POSIX-sh version of the official image's docker-entrypoint.sh.
#
# Contract honoured (the official image's): RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS
# (default guest/guest, which may log in from other containers), RABBITMQ_DEFAULT_VHOST
# (default /), RABBITMQ_ERLANG_COOKIE; data in /var/lib/rabbitmq, keyed by the node name
# rabbit@<hostname> (a container with another hostname does not find its data); AMQP on
# 5672, the management UI on 15672; logs on stdout. rabbitmq-diagnostics and rabbitmqctl
# work from `docker exec` (root shares the node's Erlang cookie).
set -eu

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- rabbitmq-server "$@"
fi
[ "$1" = rabbitmq-server ] || exec "$@"

home=/var/lib/rabbitmq
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$home" /etc/rabbitmq/conf.d
    if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
        printf '%s' "$RABBITMQ_ERLANG_COOKIE" >"$home/.erlang.cookie"
    elif [ ! -s "$home/.erlang.cookie" ]; then
        tr -dc 'A-Z' </dev/urandom | head -c 20 >"$home/.erlang.cookie"
    fi
    chmod 600 "$home/.erlang.cookie"
    chown -R rabbitmq:rabbitmq "$home"
    ln -sf "$home/.erlang.cookie" /root/.erlang.cookie

    # Erlang binary literal: backslashes and double quotes escaped.
    erl_bin() { printf '<<"%s"/utf8>>' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
    if [ ! -e /etc/rabbitmq/advanced.config ] || [ -e /etc/rabbitmq/.standin-advanced ]; then
        printf '[{rabbit, [{default_user, %s}, {default_pass, %s}, {default_vhost, %s}]}].\n' \
            "$(erl_bin "${RABBITMQ_DEFAULT_USER:-guest}")" \
            "$(erl_bin "${RABBITMQ_DEFAULT_PASS:-guest}")" \
            "$(erl_bin "${RABBITMQ_DEFAULT_VHOST:-/}")" >/etc/rabbitmq/advanced.config
        : >/etc/rabbitmq/.standin-advanced
    fi
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME="$home" "$0" "$@"
fi

exec /usr/lib/rabbitmq/bin/rabbitmq-server
