-- The send ledger: one row per delivery, claimed before the HTTP call and settled after it.
-- The Cloud API has no idempotency key, so this row is what stops a second send of a pack: a
-- claim without an outcome (worker killed mid-send, or a timeout after Meta accepted) is resent
-- only after a status webhook could have proved it was sent (see store/send_ledger.py).

CREATE TABLE send_ledger (
    delivery_id     text PRIMARY KEY,
    advisor_id      text NOT NULL,
    attempt         integer NOT NULL CHECK (attempt >= 1),
    phone_number_id text NOT NULL,
    state           text NOT NULL
                    CHECK (state IN ('CLAIMED', 'ACCEPTED', 'HELD', 'FAILED', 'RETRYING')),
    claim_token     uuid NOT NULL,
    claimed_at      timestamptz NOT NULL,
    wamid           text,
    error_code      bigint,
    outcome_at      timestamptz
);

-- Claims still waiting for an outcome or a webhook: what ops looks at after a crash.
CREATE INDEX send_ledger_unknown_idx ON send_ledger (claimed_at) WHERE state = 'CLAIMED';

-- A pack image by content hash -> where its bytes are. The scheduler records it with the pack;
-- the sender reads it only when a number has no cached media id yet.
CREATE TABLE pack_media (
    image_sha256 text PRIMARY KEY,
    image_url    text NOT NULL,
    mime_type    text NOT NULL DEFAULT 'image/jpeg',
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Media ids are per sender number (sharing across numbers is unverified) and live 30 days.
CREATE TABLE media_cache (
    phone_number_id text NOT NULL,
    image_sha256    text NOT NULL,
    media_id        text NOT NULL,
    uploaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (phone_number_id, image_sha256)
);
