-- Appends: producers hand over batches exactly once.

-- Each producer's last committed batch, written in the same transaction as
-- the batch's books: a batch at or below it was committed and is answered
-- again, never written twice.
CREATE TABLE producers (
    producer_id   TEXT    PRIMARY KEY,
    last_sequence INTEGER NOT NULL CHECK (last_sequence >= 0),
    updated_at    TEXT    NOT NULL
);

-- Every committed batch and the ranks it was given, so that a resent batch
-- is acknowledged with the ranks it got the first time.
CREATE TABLE appends (
    producer_id TEXT    NOT NULL,
    sequence    INTEGER NOT NULL CHECK (sequence >= 1),
    user_id     INTEGER NOT NULL,
    first_rank  INTEGER NOT NULL,
    books       INTEGER NOT NULL,
    PRIMARY KEY (producer_id, sequence)
) WITHOUT ROWID;

-- The REST twin's Idempotency-Key: the same key is answered the same way.
CREATE TABLE idempotency_keys (
    key          TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    first_rank   INTEGER NOT NULL,
    books        INTEGER NOT NULL,
    committed_at TEXT    NOT NULL
) WITHOUT ROWID;
