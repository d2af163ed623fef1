-- Appends: producers hand over batches exactly once.

-- Each producer's last committed batch, written in the same transaction as
-- the batch's books: a batch at or below it was committed and is answered
-- again, never written twice. Its row is the lock that orders a producer's
-- batches across the pool's connections.
CREATE TABLE producers (
    producer_id   TEXT        PRIMARY KEY,
    last_sequence BIGINT      NOT NULL CHECK (last_sequence >= 0),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every committed batch and the ranks it was given, so that a resent batch
-- is acknowledged with the ranks it got the first time.
CREATE TABLE appends (
    producer_id TEXT   NOT NULL,
    sequence    BIGINT NOT NULL CHECK (sequence >= 1),
    user_id     BIGINT NOT NULL,
    first_rank  BIGINT NOT NULL,
    books       BIGINT NOT NULL,
    PRIMARY KEY (producer_id, sequence)
);

-- The REST twin's Idempotency-Key: the same key is answered the same way.
CREATE TABLE idempotency_keys (
    key          TEXT        PRIMARY KEY,
    user_id      BIGINT      NOT NULL,
    first_rank   BIGINT      NOT NULL,
    books        BIGINT      NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Appends on several connections take book ids from one sequence; `server
-- load` moves it past the ids it writes.
CREATE SEQUENCE book_ids AS BIGINT;
SELECT setval('book_ids', coalesce((SELECT max(book_id) FROM books), 0) + 1, false);
