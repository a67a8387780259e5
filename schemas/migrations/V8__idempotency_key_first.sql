-- Dedupe lookups join a request's keys to idempotency_keys. With the primary
-- key led by tenant_id, a tenant the statistics do not know yet (a new one
-- backfilling millions of events) is estimated at a row or two, and the
-- planner reads all of that tenant's keys into a hash join: hundreds of
-- milliseconds per request, growing with the tenant. Led by the key itself,
-- the only cheap path is one index probe per key, whatever the statistics.
-- Row-level security still confines every lookup to the current tenant.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (key, tenant_id);
