-- Notification channels: where a rule's notify action is delivered. Written
-- by the gateway (people manage them), read by the notifier for every
-- tenant. A channel's id is the tenant's own name for it, the one rules
-- list in their fallback chains.

CREATE TABLE channels (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    kind             text NOT NULL CHECK (kind IN ('webhook', 'email', 'slack', 'telegram', 'whatsapp')),
    name             text NOT NULL,
    -- What may be shown: the URL of a webhook, the recipients of an email,
    -- a chat id, a phone-number id. Never a credential.
    settings         jsonb NOT NULL,
    -- The credentials (signing secret, extra headers, bot or access token,
    -- Slack URL) sealed with an AEAD key named by key_id, bound to the
    -- tenant and channel id, so a sealed value copied to another row does
    -- not open.
    sealed           bytea NOT NULL,
    key_id           text NOT NULL,
    -- After a rotation the previous secret signs beside the new one until
    -- previous_until.
    previous_sealed  bytea,
    previous_key_id  text,
    previous_until   timestamptz,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    disabled_reason  text,
    disabled_at      timestamptz,
    -- Since when every attempt failed (NULL while healthy), and when the
    -- warning that the channel is failing was sent.
    failing_since    timestamptz,
    failing_warned_at timestamptz,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK ((previous_sealed IS NULL) = (previous_until IS NULL) AND (previous_sealed IS NULL) = (previous_key_id IS NULL))
);
CREATE INDEX channels_by_tenant ON channels (tenant_id, created_at, id);

ALTER TABLE channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE channels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON channels USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
-- The notifier sends for every tenant, in transactions that declare it.
CREATE POLICY notifier ON channels FOR ALL USING (current_setting('app.notifier', true) = 'on');

GRANT SELECT, INSERT, UPDATE, DELETE ON channels TO signalops_app;
