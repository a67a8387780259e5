-- Optional per-tenant JSON Schema for the data of an event type; ingest
-- refuses events whose data does not match.
CREATE TABLE event_schemas (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_type  text NOT NULL,
    schema      jsonb NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_type)
);

ALTER TABLE event_schemas ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_schemas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_schemas
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON event_schemas TO signalops_app;
