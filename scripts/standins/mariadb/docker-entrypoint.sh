#!/bin/sh
# Entrypoint of the mariadb:11 and mysql:8.4 stand-ins (Debian's mariadb-server 10.11):
# a small POSIX-sh version of the official images' docker-entrypoint.sh.
#
# Contract honoured (the official images'): MARIADB_* variables, and their MYSQL_*
# aliases (the mysql image reads MYSQL_* only; STANDIN_FLAVOR=mysql does the same here):
#   *_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD / MYSQL_ALLOW_EMPTY_PASSWORD,
#   *_RANDOM_ROOT_PASSWORD, *_ROOT_HOST (default %), *_DATABASE, *_USER, *_PASSWORD,
#   each also as *_FILE; /docker-entrypoint-initdb.d (*.sh, *.sql, *.sql.gz).
# Data in /var/lib/mysql, initialised only when it holds no database yet. The init-time
# server runs with --skip-networking (socket only), as upstream's: a readiness probe over
# TCP is false until initialisation is over and the real server listens on 3306.
set -eu

server=mariadbd
[ "${STANDIN_FLAVOR:-mariadb}" = mysql ] && server=mysqld

# "docker run image --opt" means "<server> --opt".
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- "$server" "$@"
fi
case $1 in
mariadbd | mysqld) ;;
*) exec "$@" ;;
esac

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$DATADIR" /run/mysqld
    chown mysql:mysql "$DATADIR" /run/mysqld
    exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
fi

log() { printf '%s [Note] [Entrypoint]: %s\n' "$(date -u '+%F %T')" "$*"; }
err() { printf '%s [ERROR] [Entrypoint]: %s\n' "$(date -u '+%F %T')" "$*" >&2; exit 1; }

# setting NAME: MARIADB_NAME, else MYSQL_NAME (mysql flavour: MYSQL_NAME only), also *_FILE.
setting() {
    for prefix in MARIADB MYSQL; do
        [ "${STANDIN_FLAVOR:-mariadb}" = mysql ] && [ "$prefix" = MARIADB ] && continue
        eval "v=\${${prefix}_$1-}"
        eval "f=\${${prefix}_$1_FILE-}"
        if [ -n "$v" ] && [ -n "$f" ]; then err "both ${prefix}_$1 and ${prefix}_$1_FILE are set"; fi
        if [ -n "$f" ]; then cat "$f"; return; fi
        if [ -n "$v" ]; then printf '%s' "$v"; return; fi
    done
}
# SQL string literal: backslashes and quotes doubled.
sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }
sql_ident() { printf '`%s`' "$(printf '%s' "$1" | sed 's/`/``/g')"; }

client() { mariadb --protocol=socket --socket="$SOCKET" -uroot "$@"; }

if [ ! -d "$DATADIR/mysql" ]; then
    root_password=$(setting ROOT_PASSWORD)
    allow_empty=$(setting ALLOW_EMPTY_ROOT_PASSWORD)
    [ -z "$allow_empty" ] && allow_empty=$(setting ALLOW_EMPTY_PASSWORD)
    random_root=$(setting RANDOM_ROOT_PASSWORD)
    if [ -z "$root_password" ] && [ -z "$allow_empty" ] && [ -z "$random_root" ]; then
        err "Database is uninitialized and password option is not specified
	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
    fi
    if [ -n "$random_root" ] && [ -z "$root_password" ]; then
        root_password=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)
        log "GENERATED ROOT PASSWORD: $root_password"
    fi
    root_host=$(setting ROOT_HOST)
    root_host=${root_host:-%}
    database=$(setting DATABASE)
    user=$(setting USER)
    password=$(setting PASSWORD)

    log "Initializing database files"
    mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve --rpm >/dev/null
    log "Database files initialized"

    log "Starting temporary server"
    "$1" --skip-networking --socket="$SOCKET" --datadir="$DATADIR" --skip-log-error &
    pid=$!
    i=0
    until client -e 'SELECT 1' >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -lt 60 ] || err "Unable to start the temporary server"
        kill -0 "$pid" 2>/dev/null || err "the temporary server exited"
        sleep 0.5
    done
    log "Temporary server started."

    {
        echo "SET @@SESSION.SQL_LOG_BIN=0;"
        echo "DELETE FROM mysql.global_priv WHERE user NOT IN ('mysql', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
        echo "SET PASSWORD FOR 'root'@'localhost' = PASSWORD($(sql_string "$root_password"));"
        if [ "$root_host" != localhost ]; then
            echo "CREATE USER 'root'@$(sql_string "$root_host") IDENTIFIED BY $(sql_string "$root_password");"
            echo "GRANT ALL ON *.* TO 'root'@$(sql_string "$root_host") WITH GRANT OPTION;"
            echo "GRANT PROXY ON ''@'%' TO 'root'@$(sql_string "$root_host") WITH GRANT OPTION;"
        fi
        if [ -n "$database" ]; then
            echo "CREATE DATABASE IF NOT EXISTS $(sql_ident "$database");"
        fi
        if [ -n "$user" ]; then
            echo "CREATE USER $(sql_string "$user")@'%' IDENTIFIED BY $(sql_string "$password");"
            if [ -n "$database" ]; then
                echo "GRANT ALL ON $(sql_ident "$database").* TO $(sql_string "$user")@'%';"
            fi
        fi
        echo "FLUSH PRIVILEGES;"
    } | client

    export MYSQL_PWD="$root_password"
    for f in $(find /docker-entrypoint-initdb.d -mindepth 1 -maxdepth 1 -type f 2>/dev/null | sort); do
        case "$f" in
        *.sh) log "$0: running $f"; . "$f" ;;
        *.sql) log "$0: running $f"; client ${database:+"$database"} <"$f" ;;
        *.sql.gz) log "$0: running $f"; gzip -dc "$f" | client ${database:+"$database"} ;;
        *) log "$0: ignoring $f" ;;
        esac
    done
    unset MYSQL_PWD

    log "Stopping temporary server"
    kill "$pid"
    wait "$pid" || :
    log "Temporary server stopped"
    log "MariaDB init process done. Ready for start up."
else
    log "MariaDB database directory appears to contain a database; skipping initialization"
fi

exec "$@" --datadir="$DATADIR" --socket="$SOCKET"
