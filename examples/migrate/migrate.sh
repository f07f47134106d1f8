#!/usr/bin/env bash
# A one-shot job, the kind that must finish before the web app starts: it would apply the
# database's migrations, then exit 0. eco starts web only once it has (web depends_on it); a
# migration that fails (exits non-zero) holds web back, and eco ls says why.
set -euo pipefail
for m in 001_create_users 002_add_orders_index; do
  echo "migrate: applying $m ... done"
done
echo "migrate: schema is up to date"
