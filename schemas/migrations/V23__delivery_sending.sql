-- Sending deliveries: a notifier instance claims due rows for a lease
-- (FOR UPDATE SKIP LOCKED, so instances share the work), tries the current
-- channel of the chain, and records the attempt; the retry schedule counts
-- attempts per channel, so a fallback channel starts its own schedule.

ALTER TABLE deliveries
    -- Attempts on the current channel of the chain (the schedule's position).
    ADD COLUMN channel_attempts integer NOT NULL DEFAULT 0,
    -- While an instance sends, until when its claim holds, and whose it is.
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN claimed_by text,
    ADD COLUMN last_error text,
    ADD COLUMN delivered_channel text,
    ADD COLUMN finished_at timestamptz,
    -- Whether the final outcome reached the deliveries topic.
    ADD COLUMN outcome_appended boolean NOT NULL DEFAULT false;

-- Rows in flight, counted per channel so that no channel has more than its
-- concurrency in flight over all instances.
CREATE INDEX deliveries_claimed ON deliveries (tenant_id, (channels[channel_index + 1])) WHERE claimed_until IS NOT NULL;
-- Finished rows whose outcome a broker outage kept off the topic.
CREATE INDEX deliveries_outcome_unappended ON deliveries (finished_at) WHERE finished_at IS NOT NULL AND NOT outcome_appended;
-- The delivery log's filters.
CREATE INDEX deliveries_by_rule ON deliveries (tenant_id, rule_id, recorded_at);
CREATE INDEX deliveries_by_event ON deliveries (tenant_id, source_event_id);

CREATE TABLE delivery_attempts (
    tenant_id         uuid NOT NULL,
    delivery_id       uuid NOT NULL,
    -- 1, 2, … over the whole delivery, every channel of its chain.
    attempt           integer NOT NULL CHECK (attempt > 0),
    channel_id        text NOT NULL,
    channel_kind      text,
    started_at        timestamptz NOT NULL,
    latency_ms        integer NOT NULL CHECK (latency_ms >= 0),
    status_code       integer,
    -- The first 1 KiB of the answer, as UTF-8 (invalid bytes replaced).
    response_excerpt  text,
    error             text,
    outcome           text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed', 'gone', 'refused', 'skipped')),
    next_attempt_at   timestamptz,
    PRIMARY KEY (tenant_id, delivery_id, attempt),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES deliveries (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE delivery_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE delivery_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON delivery_attempts USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY notifier ON delivery_attempts FOR ALL USING (current_setting('app.notifier', true) = 'on');

GRANT SELECT, INSERT ON delivery_attempts TO signalops_app;

-- The notifier stages `signalops.channel.failing` and `.disabled` for the
-- channel's tenant, in the transaction that records why.
CREATE POLICY notifier ON outbox FOR INSERT WITH CHECK (current_setting('app.notifier', true) = 'on');
