-- Firings, staged records and window states are derived from the event log,
-- like the read model, and written at the log's rate: about one firing and
-- one staged record per matching event. Their foreign key to tenants made
-- each row insert look up the tenant and take a KEY SHARE lock on its row
-- (a heap write and a WAL record per statement, contended by every batch
-- of that tenant). Row-level security still scopes every row to its tenant,
-- and a replay rebuilds these tables from the log, which is checked at
-- ingest; the rules and their versions keep their keys.
ALTER TABLE rule_firings DROP CONSTRAINT IF EXISTS rule_firings_tenant_id_fkey;
ALTER TABLE rule_outbox DROP CONSTRAINT IF EXISTS rule_outbox_tenant_id_fkey;
ALTER TABLE rule_states DROP CONSTRAINT IF EXISTS rule_states_tenant_id_fkey;
