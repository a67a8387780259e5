-- Versions of the events read model, for side-by-side rebuilds
-- (`signalctl projections`). Version 1 is the original one in `public`,
-- projected by the configured group; version N lives in schema `read_vN`
-- and is projected by group `<group>-vN` from the earliest offset.
-- Exactly one version is `serving`: the gateway reads the schema of that
-- row inside each query's transaction, so promotion (one UPDATE) switches
-- every reader at once.
CREATE TABLE read_models (
    version      integer     PRIMARY KEY CHECK (version >= 1),
    schema_name  text        NOT NULL UNIQUE,
    state        text        NOT NULL CHECK (state IN ('building', 'ready', 'serving', 'dropping')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    promoted_at  timestamptz
);
CREATE UNIQUE INDEX read_models_one_serving ON read_models ((true)) WHERE state = 'serving';
INSERT INTO read_models (version, schema_name, state, promoted_at) VALUES (1, 'public', 'serving', now());

GRANT SELECT ON read_models TO signalops_app;

-- Creates schema read_v<version> with the read model's tables, indexes,
-- row-level security and grants, the same shape as in `public`.
CREATE FUNCTION create_read_model_schema(version integer) RETURNS text
    LANGUAGE plpgsql
AS $$
DECLARE
    s text := format('read_v%s', version);
    month_start date;
BEGIN
    EXECUTE format('CREATE SCHEMA %I', s);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO signalops_app', s);
    EXECUTE format($t$
        CREATE TABLE %I.events (
            tenant_id uuid NOT NULL, id text NOT NULL, type text NOT NULL, source text NOT NULL DEFAULT '',
            subject text, time timestamptz NOT NULL, received_at timestamptz NOT NULL,
            data_content_type text NOT NULL DEFAULT 'application/json', data jsonb,
            schema_version integer NOT NULL DEFAULT 1, kafka_partition integer NOT NULL, kafka_offset bigint NOT NULL,
            PRIMARY KEY (tenant_id, time, id)
        ) PARTITION BY RANGE (time)$t$, s);
    EXECUTE format('CREATE INDEX ON %I.events (tenant_id, type, time DESC)', s);
    EXECUTE format('CREATE INDEX ON %I.events (tenant_id, subject, time DESC)', s);
    EXECUTE format('CREATE INDEX ON %I.events (tenant_id, id)', s);
    EXECUTE format('CREATE TABLE %I.events_default PARTITION OF %I.events DEFAULT', s, s);
    -- A rebuild reads the whole log: months from a year back to three ahead.
    FOR i IN -12 .. 2 LOOP
        month_start := (date_trunc('month', now()) + make_interval(months => i))::date;
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.events FOR VALUES FROM (%L) TO (%L)',
            s, format('events_%s', to_char(month_start, 'YYYY_MM')), s, month_start, (month_start + interval '1 month')::date);
    END LOOP;
    EXECUTE format($t$
        CREATE TABLE %I.event_type_counts (
            tenant_id uuid NOT NULL, type text NOT NULL, hour timestamptz NOT NULL,
            count bigint NOT NULL CHECK (count >= 0), PRIMARY KEY (tenant_id, hour, type)
        )$t$, s);
    EXECUTE format('ALTER TABLE %I.events ENABLE ROW LEVEL SECURITY', s);
    EXECUTE format('ALTER TABLE %I.events FORCE ROW LEVEL SECURITY', s);
    EXECUTE format('ALTER TABLE %I.event_type_counts ENABLE ROW LEVEL SECURITY', s);
    EXECUTE format('ALTER TABLE %I.event_type_counts FORCE ROW LEVEL SECURITY', s);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I.events USING (tenant_id = public.current_tenant_id()) WITH CHECK (tenant_id = public.current_tenant_id())', s);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I.event_type_counts USING (tenant_id = public.current_tenant_id()) WITH CHECK (tenant_id = public.current_tenant_id())', s);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.events, %I.event_type_counts TO signalops_app', s, s);
    RETURN s;
END
$$;
