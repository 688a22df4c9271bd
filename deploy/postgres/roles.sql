-- The two PostgreSQL roles of a Circulus installation. Run once, as a superuser, with psql:
--
--   psql -v ON_ERROR_STOP=1 -v db=circulus \
--        -v owner=circulus_owner -v owner_password=... \
--        -v app_role=circulus_app -v app_password=... -f deploy/postgres/roles.sql
--
-- owner:    owns the database, its schema and every table; `migrate` and `grant_app_role`
--           connect as it (DATABASE_MIGRATE_URL). Not a superuser.
-- app_role: what the web, the workers and the commands connect as (DATABASE_URL). Not a
--           superuser, owns nothing, cannot create tables; `manage.py grant_app_role` (run as
--           the owner after each migrate) gives it SELECT/INSERT/UPDATE/DELETE on the tables
--           and SELECT/INSERT only on the ledger. So it cannot TRUNCATE the ledger, ALTER it
--           (DISABLE TRIGGER), UPDATE or DELETE its rows, nor SET session_replication_role.
-- Safe to run again: existing roles get the given passwords, an existing database is kept.

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
ALTER ROLE :"owner" PASSWORD :'owner_password';
ALTER ROLE :"app_role" PASSWORD :'app_password';

SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app_role";

\connect :"db"
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";
