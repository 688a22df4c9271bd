#!/bin/sh
# First start of the compose `db` service (docker-entrypoint-initdb.d): create the owner and the
# application roles and the database from deploy/.env.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v db="${CIRCULUS_DB:-circulus}" \
  -v owner="${CIRCULUS_DB_OWNER:-circulus_owner}" -v owner_password="$CIRCULUS_DB_OWNER_PASSWORD" \
  -v app_role="${CIRCULUS_DB_APP:-circulus_app}" -v app_password="$CIRCULUS_DB_APP_PASSWORD" \
  -f /docker-entrypoint-initdb.d/roles.sql.in
