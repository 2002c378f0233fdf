-- Evidence for settling a send whose answer was lost (see store/send_ledger.py, "Resend only on
-- evidence"). A claim without an outcome is resent only when the pipeline can show Meta did not
-- accept it; these tables hold that evidence.

-- Per sender number, from the statuses the reconcile agent processed: the newest Meta stamp, the
-- newest gateway receive time (the watermark: statuses are keyed by number, so one number's are
-- read in order), the largest delay seen today from Meta's stamp to the gateway receiving it,
-- and the largest delay seen today from our claim to Meta's "sent" stamp.
CREATE TABLE webhook_watermark (
    phone_number_id   text PRIMARY KEY,
    status_at         timestamptz NOT NULL,
    received_at       timestamptz NOT NULL,
    processed_at      timestamptz NOT NULL,
    max_lag_s         double precision NOT NULL DEFAULT 0,
    lag_day           date NOT NULL,
    max_sent_delay_s  double precision NOT NULL DEFAULT 0,
    sent_day          date
);

-- Status webhooks the gateway refused (503: Kafka did not confirm them). Meta retries them with
-- backoff; until the retry is taken, a lost answer on that number may yet be proved, so no claim
-- of that number is resent. Rows are deleted when the gateway produces the same event.
CREATE TABLE webhook_backlog (
    event_id        text PRIMARY KEY,
    phone_number_id text NOT NULL,
    status_at       timestamptz NOT NULL,
    refused_at      timestamptz NOT NULL
);
CREATE INDEX webhook_backlog_number_idx ON webhook_backlog (phone_number_id);

-- Templates Meta answered held_for_quality_assessment (pacing): it may hold a message of theirs
-- for hours and send no status meanwhile, so silence proves nothing about them.
CREATE TABLE template_pacing (
    template_name text PRIMARY KEY,
    held_at       timestamptz NOT NULL
);

-- The template a claim sent, so its pacing can be looked up; UNKNOWN: the evidence never came
-- before the delivery's deadline, the sender stopped looking and ops decides (dawn deliveries unknown).
ALTER TABLE send_ledger ADD COLUMN template_name text;
ALTER TABLE send_ledger DROP CONSTRAINT send_ledger_state_check;
ALTER TABLE send_ledger ADD CONSTRAINT send_ledger_state_check
    CHECK (state IN ('CLAIMED', 'ACCEPTED', 'HELD', 'FAILED', 'RETRYING', 'UNKNOWN'));
DROP INDEX send_ledger_unknown_idx;
CREATE INDEX send_ledger_unknown_idx ON send_ledger (claimed_at) WHERE state IN ('CLAIMED', 'UNKNOWN');

-- A sender number's rate lowered after a 130429 and when (store/number_pace.py): it recovers step
-- by step from then, and the next owner of the number's partition starts from it.
CREATE TABLE number_pace (
    phone_number_id text PRIMARY KEY,
    cap_mps         double precision NOT NULL,
    lowered_at      timestamptz NOT NULL
);
