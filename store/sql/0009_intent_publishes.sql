-- One row per morning whose intents the scheduler began to publish (store/intent_publishes.py).
-- Written before the first intent is produced, so a morning with any intent in
-- wa.delivery.intents has a row: a second `dawn schedule` for the date then reads the topic and
-- publishes only the intents that are not in it. A morning without a row is published whole
-- without reading the topic first. `completed_at` is null while a publish is partial.
CREATE TABLE intent_publishes (
    run_date      date PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    planned       integer NOT NULL,
    published     integer NOT NULL DEFAULT 0,
    completed_at  timestamptz
);
