-- Operator actions that are not one tenant's: a dead-letter redrive or purge
-- touches records of many tenants (and of keys that name no tenant) in one
-- act, so it is audited once here, with the tenants it touched, instead of
-- in the per-tenant `audit_log` (ADR 0019). Not tenant-scoped, so no RLS;
-- append-only for the application role that signalctl connects as.
CREATE TABLE operator_audit (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL,
    target   text NOT NULL DEFAULT '',
    -- Record keys of the records acted on (tenant ids), distinct and sorted.
    tenants  text[] NOT NULL DEFAULT '{}',
    details  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX operator_audit_recent ON operator_audit (at DESC);
CREATE INDEX operator_audit_tenants ON operator_audit USING gin (tenants);

GRANT SELECT, INSERT ON operator_audit TO signalops_app;
