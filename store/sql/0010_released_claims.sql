-- RELEASED: the sender claimed a delivery and then made no call (the claim grew too old while the
-- number's rate held it back, or the number's breaker opened). Nothing can have reached Meta, so
-- the same attempt may claim it again at once, without waiting for webhook evidence.
ALTER TABLE send_ledger DROP CONSTRAINT send_ledger_state_check;
ALTER TABLE send_ledger ADD CONSTRAINT send_ledger_state_check
    CHECK (state IN ('CLAIMED', 'ACCEPTED', 'HELD', 'FAILED', 'RETRYING', 'UNKNOWN', 'RELEASED'));
