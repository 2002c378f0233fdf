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

-- Commands from a phone or user id no advisor has (yet): a STOP sent from a new number can reach
-- us before the user_changed_number that says whose number it is. Kept, and applied to the
-- advisor who moves to that phone or user id if it was sent at or after the move.
CREATE TABLE unmatched_commands (
    event_id        text PRIMARY KEY,
    wa_id           text,
    user_id         text,
    command         text NOT NULL,
    sent_at         timestamptz NOT NULL,
    phone_number_id text,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX unmatched_commands_wa_id_idx ON unmatched_commands (wa_id);
CREATE INDEX unmatched_commands_user_id_idx ON unmatched_commands (user_id);
