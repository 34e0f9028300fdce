#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries (initdb, pg_ctl) are installed.
# Installs Debian's `postgresql` package when they are missing (non-interactive,
# no service is started). Prints the bin dir on stdout (last line).
# Quick no-op when already present. PIU_APT_UPDATED=1 skips `apt-get update`.
set -euo pipefail

find_bin() {
    local d best
    # glob sorts lexically; pick the highest major version numerically
    best="$(for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && echo "$d"
    done | sort -t/ -k5,5n | tail -n1)"
    [[ -n "$best" ]] && { echo "$best"; return 0; }
    return 1
}

if bindir="$(find_bin)"; then
    echo "install_postgres: found server binaries" >&2
else
    if [[ "$(id -u)" != 0 ]]; then
        echo "install_postgres: PostgreSQL server missing and not root; run: sudo apt-get install -y postgresql" >&2
        exit 1
    fi
    echo "install_postgres: installing Debian postgresql (no service start)" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Prevent the package's postinst from starting a service inside containers.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        created_policy=1
    fi
    trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
    [[ "${PIU_APT_UPDATED:-0}" == 1 ]] || apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bindir="$(find_bin)" || { echo "install_postgres: install finished but initdb not found" >&2; exit 1; }
fi

"$bindir/pg_ctl" --version >&2
echo "$bindir"
