-- The delivery contract: each consumer group writes the next offset to read
-- per partition in the same transaction as its effect, and seeks here on
-- assignment. Kafka's committed offsets only follow, for lag tooling.
-- Not tenant-scoped: one partition carries many tenants.
CREATE TABLE consumer_offsets (
    group_id     text    NOT NULL,
    topic        text    NOT NULL,
    partition    integer NOT NULL CHECK (partition >= 0),
    next_offset  bigint  NOT NULL CHECK (next_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

GRANT SELECT, INSERT, UPDATE ON consumer_offsets TO signalops_app;
