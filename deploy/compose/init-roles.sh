#!/usr/bin/env bash
# Runs once, from /docker-entrypoint-initdb.d/ of the official postgres image,
# when the data volume is empty. Creates the SignalOps roles and database:
#
#   signalops_owner  LOGIN CREATEDB NOSUPERUSER; owns database signalops and
#                    runs the migrations (signalctl migrate)
#   signalops_app    LOGIN NOSUPERUSER NOBYPASSRLS; owns nothing, the
#                    migrations grant it table rights; every service uses it
#
# Same attributes as deploy/local/lib/postgres.sh. Passwords come from
# SIGNALOPS_PG_OWNER_PASSWORD and SIGNALOPS_PG_APP_PASSWORD. They are passed
# to psql as variables and quoted by psql (:'var'), so any character is safe.
#
# The entrypoint sources this file when it is not executable, so it sticks to
# checks that fail loudly and never changes the shell options.

: "${SIGNALOPS_PG_OWNER_PASSWORD:?set SIGNALOPS_PG_OWNER_PASSWORD for the postgres container}"
: "${SIGNALOPS_PG_APP_PASSWORD:?set SIGNALOPS_PG_APP_PASSWORD for the postgres container}"

psql -X -v ON_ERROR_STOP=1 \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v owner_password="$SIGNALOPS_PG_OWNER_PASSWORD" \
  -v app_password="$SIGNALOPS_PG_APP_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE signalops_owner'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signalops_owner') \gexec
SELECT 'CREATE ROLE signalops_app'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signalops_app') \gexec

ALTER ROLE signalops_owner WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';
ALTER ROLE signalops_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';

SELECT 'CREATE DATABASE signalops OWNER signalops_owner ENCODING ''UTF8'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'signalops') \gexec
ALTER DATABASE signalops OWNER TO signalops_owner;
SQL
