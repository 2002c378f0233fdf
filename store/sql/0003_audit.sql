-- The audit trail: every record of every dawn topic, kept 5 years, one partition per month.
--
-- Rows are identified by a content id (event_id) derived from the record itself, never from
-- topic/partition/offset, which change when a topic is recreated and replayed. The partition key
-- `month` is derived from the record too: the month of its run date when it has one (so a whole
-- morning lands in one partition), else the IST month of when it happened. So the same record
-- always gets the same (event_id, month) and a replay adds nothing.

CREATE TABLE audit_events (
    event_id         text NOT NULL,
    month            date NOT NULL,
    occurred_at      timestamptz NOT NULL,
    topic            text NOT NULL,
    record_type      text NOT NULL,
    run_date         date,
    advisor_id       text,
    delivery_id      text,
    attempt          integer,
    wamid            text,
    phone_number_id  text,
    recipient        text,
    status           text,
    error_code       bigint,
    template_name    text,
    approval_id      text,
    record           jsonb NOT NULL,
    source_partition integer,
    source_offset    bigint,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, month)
) PARTITION BY RANGE (month);

-- dawn audit advisor: one advisor's events in time order.
CREATE INDEX audit_events_advisor_idx ON audit_events (advisor_id, occurred_at);
-- status webhooks carry only the delivery id (callback data): the timeline joins on it.
CREATE INDEX audit_events_delivery_idx ON audit_events (delivery_id, occurred_at);
-- dawn audit day / export: a morning's deliveries by type.
CREATE INDEX audit_events_run_date_idx ON audit_events (run_date, record_type);
CREATE INDEX audit_events_wamid_idx ON audit_events (wamid);
CREATE INDEX audit_events_type_time_idx ON audit_events (record_type, occurred_at);

-- Records no schema could read, kept byte for byte with the reason (they also go to the DLQ).
CREATE TABLE audit_rejects (
    reject_id        text NOT NULL,
    month            date NOT NULL,
    topic            text NOT NULL,
    source_partition integer,
    source_offset    bigint,
    produced_at      timestamptz NOT NULL,
    key              bytea,
    value            bytea,
    error            text NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reject_id, month)
) PARTITION BY RANGE (month);

CREATE INDEX audit_rejects_topic_idx ON audit_rejects (topic, produced_at);

-- Creates the partition of `parent` for the month holding `day`, once; safe to race.
CREATE FUNCTION audit_ensure_month(parent text, day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', day)::date;
    part text := format('%s_%s', parent, to_char(first, 'YYYY_MM'));
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(part));
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       part, parent, first, (first + interval '1 month')::date);
    END IF;
    RETURN part;
END $$;
