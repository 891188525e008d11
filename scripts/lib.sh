# Shell functions shared by the scripts in this folder (sourced, not run).
# Each script defines die() before sourcing this file.

# The mirror the machine already uses (from deb822 .sources or a classic list);
# never hard-code a host name.
debian_mirror_uri() {
    local f uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # First "URIs:" of a stanza that is not the security archive.
        uri=$(awk '
            /^[[:space:]]*$/ { if (u != "" && s !~ /security/) { print u; exit } u=""; s=""; next }
            /^URIs:/   { u=$2 }
            /^Suites:/ { s=$0 }
            END { if (u != "" && s !~ /security/) print u }
        ' "$f" | head -n1)
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1=="deb" && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || die "cannot find a Debian mirror URI in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
    printf '%s\n' "${uri%/}"
}

# Run a command, showing its output only when it fails (the legacy builder
# prints a deprecation banner on every build).
quiet() {
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then printf '%s\n' "$out" >&2; fi
    return "$rc"
}

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
