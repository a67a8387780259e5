-- The rules group: the trace context a staged record is appended with, and
-- the consumer groups that run rules, so `signalctl replay` can tell a rules
-- group from the others whatever it is named.

-- W3C trace context of the source event's record: the relay appends with
-- it, so a derived event or a notification joins the trace that started at
-- the gateway.
ALTER TABLE rule_outbox ADD COLUMN traceparent text, ADD COLUMN tracestate text;

-- Each rules group registers itself at start-up. A replay of a registered
-- group clears the rules state with the offsets, and only a replay from the
-- earliest offset is allowed (ADR 0025). Not tenant-scoped, like
-- consumer_offsets.
CREATE TABLE rule_groups (
    group_id       text PRIMARY KEY,
    registered_at  timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT ON rule_groups TO signalops_app;
