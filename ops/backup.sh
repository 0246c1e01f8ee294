#!/bin/sh
# Numina's backup: a custom-format pg_dump (`pg_dump -Fc`) of DATABASE_URL into
# NUMINA_BACKUP_DIR, keeping the newest NUMINA_BACKUP_KEEP dumps. README "Backups and restore".
#
#   ops/backup.sh           one dump, then the old ones pruned (cron, or by hand)
#   ops/backup.sh --every   a dump now and then every NUMINA_BACKUP_INTERVAL_SECONDS, until
#                           stopped (docker-compose.yml's backup service)
#
# pg_dump must be the server's major version or newer: compose runs this in the database's
# own image. POSIX sh: that image has no guarantee of anything more.
set -eu

: "${DATABASE_URL:?set DATABASE_URL to the database to back up}"
dir="${NUMINA_BACKUP_DIR:-./backups}"
keep="${NUMINA_BACKUP_KEEP:-7}"
interval="${NUMINA_BACKUP_INTERVAL_SECONDS:-86400}"

case "$keep" in '' | *[!0-9]* | 0) echo "backup: NUMINA_BACKUP_KEEP must be a whole number of at least 1, not '$keep'" >&2; exit 2 ;; esac
case "$interval" in '' | *[!0-9]* | 0) echo "backup: NUMINA_BACKUP_INTERVAL_SECONDS must be a whole number of at least 1, not '$interval'" >&2; exit 2 ;; esac

backup_once() {
    mkdir -p "$dir"
    # UTC to the nanosecond: names sort by age, and two dumps never share one.
    name="numina-$(date -u +%Y%m%dT%H%M%S.%NZ).dump"
    partial="$dir/.$name.partial"
    # Written aside and renamed when whole: a dump cut short (a full disk, a stopped
    # container) is never among the kept ones, nor does it push a good one out.
    if ! pg_dump --format=custom --file="$partial" --dbname="$DATABASE_URL"; then
        rm -f "$partial"
        echo "backup: pg_dump failed; no dump written" >&2
        return 1
    fi
    pg_restore --list "$partial" >/dev/null  # readable as a dump, or this backup failed
    mv "$partial" "$dir/$name"
    echo "backup: wrote $dir/$name ($(wc -c <"$dir/$name") bytes)"
    # The newest $keep stay; names hold no spaces (made above), so ls and xargs are safe.
    ls -1 "$dir" | grep -E '^numina-[0-9T.]+Z\.dump$' | sort -r | tail -n +"$((keep + 1))" |
        while read -r old; do
            rm -f "$dir/$old"
            echo "backup: removed $dir/$old (keeping the newest $keep)"
        done
}

if [ "${1:-}" = "--every" ]; then
    # `docker compose stop` sends TERM: leave at once, not after the current sleep.
    trap 'exit 0' TERM INT
    while :; do
        # A failed dump ends the service: compose restarts it (restart: unless-stopped),
        # which retries, and `docker compose ps` shows the restarts.
        backup_once
        sleep "$interval" &
        wait $!
    done
elif [ $# -eq 0 ]; then
    backup_once
else
    echo "usage: $0 [--every]" >&2
    exit 2
fi
