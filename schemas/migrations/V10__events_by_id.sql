-- `GET /v1/events/{id}` looks an event up by id alone; the primary key
-- (tenant_id, time, id) cannot serve that without scanning the tenant.
CREATE INDEX events_tenant_id ON events (tenant_id, id);
