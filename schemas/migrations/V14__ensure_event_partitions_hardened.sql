-- ensure_event_partitions runs with its owner's rights (SECURITY DEFINER), so
-- it must not be steerable by its caller:
-- - search_path is pinned to pg_catalog, public, with pg_temp last, so a
--   caller's temporary objects can never shadow a name the function uses;
-- - every relation inside is schema-qualified anyway;
-- - the arguments are bounded: an absurd range (thousands of months, or a
--   start centuries away) is refused instead of creating tables on demand.
-- CREATE OR REPLACE keeps the owner and the grants of V11; they are restated
-- below so this file alone says who may call it.
CREATE OR REPLACE FUNCTION ensure_event_partitions(from_month date, months integer) RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    created integer := 0;
    this_month constant date := pg_catalog.date_trunc('month', pg_catalog.now())::date;
    month_start date;
    name text;
BEGIN
    IF months IS NULL OR months < 1 OR months > 36 THEN
        RAISE EXCEPTION 'ensure_event_partitions: months must be between 1 and 36, got %', months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF from_month IS NULL
        OR from_month < this_month - pg_catalog.make_interval(years => 10)
        OR from_month > this_month + pg_catalog.make_interval(years => 5) THEN
        RAISE EXCEPTION 'ensure_event_partitions: from_month must be within 10 years before and 5 years after the current month, got %', from_month
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 0 .. months - 1 LOOP
        month_start := (pg_catalog.date_trunc('month', from_month) + pg_catalog.make_interval(months => i))::date;
        name := pg_catalog.format('events_%s', pg_catalog.to_char(month_start, 'YYYY_MM'));
        IF pg_catalog.to_regclass(pg_catalog.format('public.%I', name)) IS NULL THEN
            EXECUTE pg_catalog.format(
                'CREATE TABLE public.%I PARTITION OF public.events FOR VALUES FROM (%L) TO (%L)',
                name, month_start, (month_start + interval '1 month')::date);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;

REVOKE EXECUTE ON FUNCTION ensure_event_partitions(date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_event_partitions(date, integer) TO signalops_app;
