-- Sign-in, refresh-token families and invitations (the control plane).

-- The user of the current transaction, set by flows that act for a person
-- before a tenant is chosen (login lists the person's tenants).
CREATE FUNCTION current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
GRANT EXECUTE ON FUNCTION current_user_id() TO signalops_app;

-- A person may read their own memberships, and the tenants they belong to,
-- across tenants (to choose one at login); nothing else crosses tenants.
CREATE POLICY own_memberships ON memberships FOR SELECT USING (user_id = current_user_id());
CREATE POLICY member_of ON tenants FOR SELECT
    USING (EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = tenants.id AND m.user_id = current_user_id()));

-- Opaque refresh tokens, stored hashed. Every rotation stays in one family;
-- presenting a used or revoked token revokes the whole family.
CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY,
    family_id    uuid NOT NULL,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);

-- Invitations: pending → accepted | declined | expired | revoked.
CREATE TABLE invitations (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email             citext NOT NULL,
    role              text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash        bytea NOT NULL UNIQUE,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'accepted', 'declined', 'expired', 'revoked')),
    invited_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    closed_at         timestamptz,
    accepted_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    CHECK ((state = 'pending') = (closed_at IS NULL))
);
-- One pending invitation per (tenant, email).
CREATE UNIQUE INDEX invitations_one_pending ON invitations (tenant_id, email) WHERE state = 'pending';
CREATE INDEX invitations_recent ON invitations (tenant_id, created_at DESC, id DESC);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['refresh_tokens', 'invitations'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())',
            t);
    END LOOP;
END
$$;

-- Tokens arrive before the tenant is known: a request may read the one row
-- whose hash it presents, then continues under that row's tenant.
CREATE POLICY lookup_by_hash ON refresh_tokens FOR SELECT
    USING (token_hash = decode(nullif(current_setting('app.token_hash', true), ''), 'hex'));
CREATE POLICY lookup_by_hash ON invitations FOR SELECT
    USING (token_hash = decode(nullif(current_setting('app.token_hash', true), ''), 'hex'));

CREATE INDEX api_keys_tenant_recent ON api_keys (tenant_id, created_at DESC, id DESC);
CREATE INDEX memberships_tenant_recent ON memberships (tenant_id, created_at, user_id);

GRANT SELECT, INSERT, UPDATE ON refresh_tokens, invitations TO signalops_app;
