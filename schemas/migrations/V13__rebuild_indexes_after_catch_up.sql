-- A rebuilt read-model version is bulk-loaded from the earliest offset:
-- maintaining the secondary indexes row by row during that load costs more
-- than building them once at the end (1M rows: 18 s with them, 8 s + 3 s
-- without; ADR 0016). So a new version starts with its primary key only
-- (which the projector's ON CONFLICT needs) and `index_read_model_schema`
-- adds the secondary indexes and statistics once it has caught up, before
-- `signalctl projections rebuild` marks it ready. Version 1 (`public`)
-- keeps its indexes: it serves while it projects.
CREATE OR REPLACE FUNCTION create_read_model_schema(version integer) RETURNS text
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

-- The query API's indexes (the same as `public.events` has, V4 and V10) and
-- fresh planner statistics for version `version`. It runs in one
-- transaction, so a version has either all of them or none. Idempotent: a
-- resumed rebuild may call it again, and a version created before V13
-- (indexed from the start) is left as it is. Returns the indexes created.
CREATE FUNCTION index_read_model_schema(version integer) RETURNS integer
    LANGUAGE plpgsql
    SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    s text := format('read_v%s', version);
BEGIN
    IF to_regclass(format('%I.events', s)) IS NULL THEN
        RAISE EXCEPTION 'read model schema % does not exist', s;
    END IF;
    IF (SELECT count(*) FROM pg_indexes WHERE schemaname = s AND tablename = 'events') > 1 THEN
        RETURN 0;
    END IF;
    EXECUTE format('CREATE INDEX events_tenant_type_time ON %I.events (tenant_id, type, time DESC)', s);
    EXECUTE format('CREATE INDEX events_tenant_subject_time ON %I.events (tenant_id, subject, time DESC)', s);
    EXECUTE format('CREATE INDEX events_tenant_id ON %I.events (tenant_id, id)', s);
    EXECUTE format('ANALYZE %I.events, %I.event_type_counts', s, s);
    RETURN 3;
END
$$;
