-- System events are staged here in the transaction of the change they
-- describe, then relayed to Kafka by the gateway (transactional outbox): a
-- committed change always gets its event, a rolled-back one never does.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id    text NOT NULL,
    envelope    bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
-- The relay works across tenants, in transactions that declare themselves
-- as relay work; nothing else reads other tenants' rows.
CREATE POLICY relay ON outbox FOR ALL
    USING (current_setting('app.outbox_relay', true) = 'on');

-- UPDATE is needed for the relay's SELECT … FOR UPDATE SKIP LOCKED.
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox TO signalops_app;
