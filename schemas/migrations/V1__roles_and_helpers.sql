-- Every grant in these migrations goes to the application role. It must exist
-- before migrating (deploy/local/stack.sh and the compose file create it) and
-- must own nothing, so row-level security always applies to it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signalops_app') THEN
        RAISE EXCEPTION 'role signalops_app does not exist: create it (LOGIN NOSUPERUSER NOBYPASSRLS) before running migrations';
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO signalops_app;

-- The tenant of the current transaction, or NULL when none is set: every RLS
-- policy compares against this, so a connection that forgot to set a tenant
-- sees nothing rather than everything.
CREATE FUNCTION current_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

GRANT EXECUTE ON FUNCTION current_tenant_id() TO signalops_app;
