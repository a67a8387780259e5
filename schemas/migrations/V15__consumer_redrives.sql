-- Dead letters a group applied again through the redrive topic, one row per
-- source record, written in the same transaction as the effect: a second
-- redrive of the same record (or of a second dead letter of it) is a no-op.
-- Not tenant-scoped, like consumer_offsets.
CREATE TABLE consumer_redrives (
    group_id          text    NOT NULL,
    topic             text    NOT NULL,
    partition         integer NOT NULL CHECK (partition >= 0),
    kafka_offset      bigint  NOT NULL CHECK (kafka_offset >= 0),
    redrive_partition integer NOT NULL,
    redrive_offset    bigint  NOT NULL,
    applied_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition, kafka_offset)
);

GRANT SELECT, INSERT ON consumer_redrives TO signalops_app;
