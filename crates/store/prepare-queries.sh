#!/usr/bin/env bash
# Regenerates crates/store/.sqlx: the query data that lets sqlx's macros
# check every query at compile time without a database. Run it after
# changing a query or adding a migration, and commit the result. Needs the
# sqlite3 command-line tool; no sqlx-cli.
set -euo pipefail
crate="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

db="$work/prepare.sqlite3"
for migration in "$crate"/migrations/*.sql; do
    sqlite3 "$db" < "$migration"
done

rm -rf "$crate/.sqlx"
mkdir -p "$crate/.sqlx"
# The macros run again only when the crate is rebuilt.
touch "$crate/src/lib.rs"
# Building the tests (not just checking) reuses what `cargo test` built.
DATABASE_URL="sqlite:$db" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$crate/.sqlx" \
    cargo test -p store --no-run

# The committed data alone must be enough.
touch "$crate/src/lib.rs"
env -u DATABASE_URL SQLX_OFFLINE=true cargo test -p store --no-run
echo "wrote $(find "$crate/.sqlx" -name 'query-*.json' | wc -l) queries to $crate/.sqlx"
