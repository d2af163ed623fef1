-- Follows and retention.

-- The earliest rank a list keeps: retention removes the ranks below it, and
-- a reader asking for one of them is told this rank instead of a gap.
ALTER TABLE recommendation_lists ADD COLUMN first_rank INTEGER NOT NULL DEFAULT 0
    CHECK (first_rank >= 0);

-- When each committed batch of a list was committed, whoever sent it: a
-- follow can start at a time, and retention by age knows what is old.
-- Times only grow with rank: batches of a list commit one at a time.
CREATE TABLE list_appends (
    user_id         INTEGER NOT NULL,
    first_rank      INTEGER NOT NULL,
    books           INTEGER NOT NULL,
    committed_at_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, first_rank)
) WITHOUT ROWID;
CREATE INDEX list_appends_by_time ON list_appends (user_id, committed_at_ms);

-- When an append committed each book (ms since the Unix epoch): sent with
-- the book, so that a follower knows its lag. NULL for loaded books.
ALTER TABLE recommendations ADD COLUMN appended_at_ms INTEGER;
