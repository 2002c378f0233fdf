-- Every template language dawn knows of, as the templates agent merged it from Meta's webhooks
-- and its poller of GET /{waba-id}/message_templates. The sender, the scheduler and the
-- `dawn templates` commands read it: it is the one view of which templates may be sent now.
-- status_at / quality_at / category_at are the times of the evidence each column was taken
-- from, so a late webhook never overwrites newer evidence.
CREATE TABLE template_states (
    name          text        NOT NULL,
    language      text        NOT NULL,
    template_id   text,
    status        text        NOT NULL,
    quality       text        NOT NULL DEFAULT 'UNKNOWN',
    category      text,
    reason        text,
    status_at     timestamptz NOT NULL,
    quality_at    timestamptz,
    category_at   timestamptz,
    submitted_at  timestamptz,          -- when dawn submitted it (approval buffer alert)
    approved_at   timestamptz,          -- first seen APPROVED: Meta paces new templates
    unpaused_at   timestamptz,          -- last REINSTATED: Meta paces unpaused templates
    variant_of    text,                 -- the rejected template this one resubmits
    overdue_alerted boolean   NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (name, language)
);
