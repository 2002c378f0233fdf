-- Advisors and their consent: the record the scheduler and the sender decide on.
-- The compacted `advisors` topic mirrors every change for the data team, but Kafka is not the
-- record: the embedded broker has no transactions and a Faust table can lose its last changes.

CREATE TABLE advisors (
    advisor_id           text PRIMARY KEY,
    name                 text NOT NULL,
    phone                text,
    user_id              text,
    language             text NOT NULL CHECK (language IN ('EN', 'HI', 'MR')),
    consent_state        text NOT NULL DEFAULT 'NONE'
                         CHECK (consent_state IN ('NONE', 'OPTED_IN', 'PAUSED', 'STOPPED')),
    consent_changed_at   timestamptz,
    consent_source       text,
    consent_evidence     text,
    marketing_suppressed boolean NOT NULL DEFAULT false,
    suppressed_at        timestamptz,
    sticky_sender        text,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (phone IS NOT NULL OR user_id IS NOT NULL)
);

CREATE INDEX advisors_phone_idx ON advisors (phone);
CREATE INDEX advisors_user_id_idx ON advisors (user_id);
-- The scheduler's question every morning.
CREATE INDEX advisors_eligible_idx ON advisors (advisor_id)
    WHERE consent_state = 'OPTED_IN' AND NOT marketing_suppressed;

-- Every consent or suppression change, append-only: the evidence compliance asks for years later.
CREATE TABLE consent_history (
    id          bigserial PRIMARY KEY,
    advisor_id  text NOT NULL REFERENCES advisors (advisor_id),
    kind        text NOT NULL CHECK (kind IN ('consent', 'marketing')),
    old_value   text,
    new_value   text NOT NULL,
    changed_at  timestamptz NOT NULL,
    source      text NOT NULL,
    evidence    text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX consent_history_advisor_idx ON consent_history (advisor_id, changed_at);

CREATE FUNCTION consent_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_history is append-only';
END $$;

CREATE TRIGGER consent_history_append_only
    BEFORE UPDATE OR DELETE ON consent_history
    FOR EACH ROW EXECUTE FUNCTION consent_history_append_only();

-- Events the consent agent has acted on (inbound wamid, webhook id, send result id), so a replay
-- changes nothing and confirms nothing twice; confirmed_at stays null until the reply went out.
CREATE TABLE consent_events (
    event_id     text PRIMARY KEY,
    advisor_id   text,
    action       text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz
);
