CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = current_tenant_id()) WITH CHECK (id = current_tenant_id());

-- People are global: one person can belong to several tenants.
CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          citext NOT NULL UNIQUE,
    password_hash  text,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The public part of the key (so_<env>_<id>), used to find the row.
    prefix        text NOT NULL UNIQUE,
    -- HMAC-SHA-256 of the whole key under the server's pepper.
    digest        bytea NOT NULL,
    label         text NOT NULL DEFAULT '',
    scopes        text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);

CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key           text NOT NULL,
    content_hash  bytea NOT NULL,
    event_id      text NOT NULL,
    partition     integer,
    "offset"      bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL DEFAULT '',
    request_id  text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_recent ON audit_log (tenant_id, at DESC);

-- Every tenant-scoped table: RLS forced (applies to the owner too) with one
-- policy on the transaction's tenant.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['memberships', 'api_keys', 'idempotency_keys', 'audit_log'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())',
            t);
    END LOOP;
END
$$;

-- API keys are presented before the tenant is known: a request may read the
-- one row whose public prefix it names (and nothing else), then verifies the
-- digest in constant time before trusting the tenant it finds.
CREATE POLICY lookup_by_prefix ON api_keys FOR SELECT
    USING (prefix = nullif(current_setting('app.api_key_prefix', true), ''));

-- Operators (signalctl, connected as the owner role) may list every tenant;
-- the application role never can.
CREATE POLICY operator_read ON tenants FOR SELECT TO signalops_owner USING (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, memberships, api_keys, idempotency_keys TO signalops_app;
-- The audit log is append-only for the application.
GRANT SELECT, INSERT ON audit_log TO signalops_app;
