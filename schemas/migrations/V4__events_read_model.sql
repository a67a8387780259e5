-- The events read model, partitioned by month of the event's time. It is a
-- projection of signalops.events.v1: dropping it and replaying loses nothing.
CREATE TABLE events (
    tenant_id          uuid        NOT NULL,
    id                 text        NOT NULL,
    type               text        NOT NULL,
    source             text        NOT NULL DEFAULT '',
    subject            text,
    time               timestamptz NOT NULL,
    received_at        timestamptz NOT NULL,
    data_content_type  text        NOT NULL DEFAULT 'application/json',
    data               jsonb,
    schema_version     integer     NOT NULL DEFAULT 1,
    kafka_partition    integer     NOT NULL,
    kafka_offset       bigint      NOT NULL,
    PRIMARY KEY (tenant_id, time, id)
) PARTITION BY RANGE (time);

CREATE INDEX events_tenant_type_time ON events (tenant_id, type, time DESC);
CREATE INDEX events_tenant_subject_time ON events (tenant_id, subject, time DESC);

-- Events outside every monthly partition still land somewhere.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Creates the monthly partitions covering [from_month, from_month + months).
CREATE FUNCTION ensure_event_partitions(from_month date, months integer) RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    created integer := 0;
    month_start date;
    name text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        month_start := (date_trunc('month', from_month) + make_interval(months => i))::date;
        name := format('events_%s', to_char(month_start, 'YYYY_MM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                name, month_start, (month_start + interval '1 month')::date);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;

SELECT ensure_event_partitions((date_trunc('month', now()) - interval '3 months')::date, 18);

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON events TO signalops_app;
