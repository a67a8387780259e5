-- Deliveries: one row per notification request, recorded by the notifier
-- group in the transaction of the batch it came in, keyed by the request's
-- deterministic id, so a replay or a redelivery of the notifications topic
-- never records (and so never sends) a notification twice. Sending works
-- from these rows, off the consumer path.

CREATE TABLE deliveries (
    tenant_id          uuid NOT NULL,
    id                 uuid NOT NULL,
    rule_id            uuid NOT NULL,
    rule_version       integer NOT NULL,
    action_index       integer NOT NULL,
    source_event_id    text NOT NULL,
    source_event_type  text NOT NULL,
    -- The fallback chain, in order, and the position now being tried.
    channels           text[] NOT NULL CHECK (cardinality(channels) BETWEEN 1 AND 5),
    channel_index      integer NOT NULL DEFAULT 0,
    subject            text,
    body               text NOT NULL,
    traceparent        text,
    tracestate         text,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    -- When the rules group staged the request, and when the source event was received.
    requested_at       timestamptz NOT NULL,
    received_at        timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    kafka_partition    integer NOT NULL,
    kafka_offset       bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_tenant ON deliveries (tenant_id, recorded_at, id);

ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deliveries USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
-- The notifier records and sends for every tenant, in transactions that declare it.
CREATE POLICY notifier ON deliveries FOR ALL USING (current_setting('app.notifier', true) = 'on');

GRANT SELECT, INSERT, UPDATE ON deliveries TO signalops_app;
