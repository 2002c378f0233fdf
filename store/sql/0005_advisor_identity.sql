-- Every change of who an advisor is on WhatsApp, append-only: a number change moves the advisor
-- (consent, sticky sender and history stay with the person) and keeps the old and the new ids
-- here, so compliance can show years later why a pack went to a new number.
CREATE TABLE advisor_identity_history (
    id            bigserial PRIMARY KEY,
    advisor_id    text NOT NULL REFERENCES advisors (advisor_id),
    kind          text NOT NULL CHECK (kind IN ('number_changed', 'user_id_changed',
                                                 'identity_changed', 'number_change_refused')),
    old_phone     text,
    new_phone     text,
    old_user_id   text,
    new_user_id   text,
    changed_at    timestamptz NOT NULL,
    evidence      text,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX advisor_identity_history_advisor_idx ON advisor_identity_history (advisor_id, changed_at);

CREATE FUNCTION advisor_identity_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'advisor_identity_history is append-only';
END $$;

CREATE TRIGGER advisor_identity_history_append_only
    BEFORE UPDATE OR DELETE ON advisor_identity_history
    FOR EACH ROW EXECUTE FUNCTION advisor_identity_history_append_only();
