-- Per-tenant, per-type hourly counts: a projection of signalops.events.v1
-- that the projector keeps in the same transaction as the `events` rows, so
-- a count moves exactly when its rows appear. Days are sums of hours.
CREATE TABLE event_type_counts (
    tenant_id  uuid        NOT NULL,
    type       text        NOT NULL,
    hour       timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour)),
    count      bigint      NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, hour, type)
);

ALTER TABLE event_type_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_type_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_type_counts
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON event_type_counts TO signalops_app;
