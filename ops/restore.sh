#!/bin/sh
# Restores a dump made by ops/backup.sh into a fresh, empty database.
#
#   ops/restore.sh DUMP [DATABASE_URL]      (DATABASE_URL defaults to the environment's)
#
# Create the database first (`createdb numina_restored`); a database that already holds
# tables is refused rather than mixed into. One transaction: it all lands or nothing does.
# README "Backups and restore".
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DUMP [DATABASE_URL]" >&2
    exit 2
fi
dump=$1
url=${2:-${DATABASE_URL:-}}
if [ -z "$url" ]; then
    echo "restore: give the database to restore into (DATABASE_URL or the second argument)" >&2
    exit 2
fi
if [ ! -r "$dump" ]; then
    echo "restore: cannot read $dump" >&2
    exit 2
fi
if ! pg_restore --list "$dump" >/dev/null 2>&1; then
    echo "restore: $dump is not a pg_dump custom-format dump (ops/backup.sh makes those)" >&2
    exit 2
fi
tables=$(psql --no-psqlrc --quiet --tuples-only --no-align --dbname="$url" \
    --command="select count(*) from pg_catalog.pg_tables where schemaname = 'public'")
if [ "$tables" != "0" ]; then
    echo "restore: the database already has $tables tables; restore into a fresh one (createdb)" >&2
    exit 1
fi
# --no-owner / --no-privileges: the dump's role (compose's "numina") need not exist here;
# the restoring user owns everything.
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$dump"
echo "restore: $dump restored"
