-- Rules: an id that stays and immutable versions (written by the gateway),
-- and the window/throttle state, firings and pending appends of the rules
-- group (written in the transaction of the batch they come from).

CREATE TABLE rules (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             text NOT NULL,
    current_version  integer NOT NULL CHECK (current_version >= 1),
    -- Operational status: pause and resume change it without a new version.
    status           text NOT NULL CHECK (status IN ('active', 'paused')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- Deleted rules keep their versions and firings, so history stays explainable.
    deleted_at       timestamptz
);
CREATE INDEX rules_by_tenant ON rules (tenant_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE rule_versions (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id     uuid NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version >= 1),
    -- The normalised document the version was compiled from.
    document    jsonb NOT NULL,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, version)
);

-- One row per tenant, bumped in every transaction that changes one of its
-- rules. The row lock orders the changes of a tenant, so a reader that sees
-- revision N has seen every change up to N (a global sequence would not:
-- transactions commit out of the order they drew numbers in).
CREATE TABLE rule_sets (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    revision   bigint NOT NULL DEFAULT 1
);

CREATE FUNCTION bump_rule_set() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO public.rule_sets AS s (tenant_id) VALUES (NEW.tenant_id)
    ON CONFLICT (tenant_id) DO UPDATE SET revision = s.revision + 1;
    RETURN NEW;
END
$$;
CREATE TRIGGER rules_bump_rule_set AFTER INSERT OR UPDATE ON rules
    FOR EACH ROW EXECUTE FUNCTION bump_rule_set();

-- Window and throttle state of one rule version for one key. Keys can be
-- long JSON texts, so the primary key holds their SHA-256.
CREATE TABLE rule_states (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id     uuid NOT NULL,
    version     integer NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('window', 'throttle')),
    key_digest  bytea NOT NULL,
    key         text NOT NULL,
    state       jsonb NOT NULL,
    -- After this instant the state can no longer change a verdict.
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, rule_id, version, kind, key_digest)
);
CREATE INDEX rule_states_expiry ON rule_states (expires_at);

-- What each rule version decided for each event it fired on (or whose
-- firing it suppressed). Windows that only counted are not recorded.
CREATE TABLE rule_firings (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id       uuid NOT NULL,
    version       integer NOT NULL,
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    received_at   timestamptz NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('fired', 'suppressed')),
    reason        text,
    -- The rendered actions with their deterministic ids, or their errors.
    produced      jsonb NOT NULL DEFAULT '[]'::jsonb,
    kafka_partition integer NOT NULL,
    kafka_offset  bigint NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, rule_id, version, event_id)
);
CREATE INDEX rule_firings_by_rule ON rule_firings (tenant_id, rule_id, received_at, event_id);

-- Records a firing appends to Kafka (derived events, notification
-- requests), staged with the firing and relayed afterwards. Rows stay after
-- their append (until the retention deletes them), so a replay that stages
-- the same deterministic id again appends nothing.
CREATE TABLE rule_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    record_id    uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('event', 'notification')),
    payload      bytea NOT NULL,
    staged_at    timestamptz NOT NULL DEFAULT now(),
    appended_at  timestamptz,
    UNIQUE (tenant_id, record_id)
);
CREATE INDEX rule_outbox_pending ON rule_outbox (id) WHERE appended_at IS NULL;
CREATE INDEX rule_outbox_appended ON rule_outbox (appended_at) WHERE appended_at IS NOT NULL;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rules', 'rule_versions', 'rule_sets', 'rule_states', 'rule_firings', 'rule_outbox'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;

-- The rules group loads every tenant's rules, in transactions that declare
-- themselves as loading; nothing else reads other tenants' rules.
CREATE POLICY rules_loader ON rules FOR SELECT USING (current_setting('app.rules_loader', true) = 'on');
CREATE POLICY rules_loader ON rule_versions FOR SELECT USING (current_setting('app.rules_loader', true) = 'on');
CREATE POLICY rules_loader ON rule_sets FOR SELECT USING (current_setting('app.rules_loader', true) = 'on');
-- The relay appends every tenant's staged records.
CREATE POLICY relay ON rule_outbox FOR ALL USING (current_setting('app.outbox_relay', true) = 'on');
-- A replay of the rules group from the earliest offset starts from empty state.
CREATE POLICY rules_reset ON rule_states FOR DELETE USING (current_setting('app.rules_reset', true) = 'on');
CREATE POLICY rules_reset ON rule_firings FOR DELETE USING (current_setting('app.rules_reset', true) = 'on');

-- Versions are immutable and rules are deleted softly: no UPDATE on
-- versions, no DELETE on either.
GRANT SELECT, INSERT, UPDATE ON rules TO signalops_app;
GRANT SELECT, INSERT ON rule_versions TO signalops_app;
GRANT SELECT, INSERT, UPDATE ON rule_sets TO signalops_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON rule_states TO signalops_app;
GRANT SELECT, INSERT, DELETE ON rule_firings TO signalops_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON rule_outbox TO signalops_app;
