-- The projector keeps monthly partitions of `events` ahead of time: the
-- application role may not create tables, so the function runs with its
-- owner's rights (and a fixed search_path, so callers cannot redirect it).
ALTER FUNCTION ensure_event_partitions(date, integer) SECURITY DEFINER SET search_path = public;
REVOKE EXECUTE ON FUNCTION ensure_event_partitions(date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_event_partitions(date, integer) TO signalops_app;
