-- The rules group appends what new firings produce to Kafka before its
-- batch commits (ADR 0028), so `rule_outbox` is no longer written or read.
-- Rows still waiting for the relay would be lost with the table: the
-- migration refuses until the previous rules service has relayed them.

DO $$
BEGIN
    PERFORM set_config('app.outbox_relay', 'on', true);
    IF EXISTS (SELECT 1 FROM rule_outbox WHERE appended_at IS NULL) THEN
        RAISE EXCEPTION 'rule_outbox still holds records not appended to Kafka'
            USING HINT = 'run the previous rules service until signalops_rules_outbox_pending is 0, then migrate again';
    END IF;
END
$$;

DROP TABLE rule_outbox;
