-- The delivery-state agent's book, moved out of its Faust tables: every fact it merged about a
-- delivery (streams.delivery.state, as JSON), the wamid index, and status facts waiting for their
-- wamid to be known. In Faust tables every merge wrote a changelog record through a producer that
-- drains one record at a time; here a batch of records is one transaction, and two workers share
-- one book (a delivery failed over to another number's partition no longer splits across tables).
CREATE TABLE delivery_book (
    delivery_id text PRIMARY KEY,
    -- NULL only inside the transaction that first merges the delivery: the row is inserted empty
    -- so that it can be locked like every other, in key order.
    doc jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE delivery_wamids (
    wamid text PRIMARY KEY,
    delivery_id text NOT NULL
);

CREATE TABLE delivery_waiting (
    wamid text PRIMARY KEY,
    doc jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
