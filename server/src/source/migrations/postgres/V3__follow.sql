-- Follows and retention.

-- The earliest rank a list keeps: retention removes the ranks below it, and
-- a reader asking for one of them is told this rank instead of a gap.
ALTER TABLE recommendation_lists ADD COLUMN first_rank BIGINT NOT NULL DEFAULT 0
    CHECK (first_rank >= 0);

-- When each committed batch of a list was committed, whoever sent it: a
-- follow can start at a time, and retention by age knows what is old.
-- Times only grow with rank: the list's row lock orders its batches, and
-- the time is read after it is taken.
CREATE TABLE list_appends (
    user_id         BIGINT NOT NULL,
    first_rank      BIGINT NOT NULL,
    books           BIGINT NOT NULL,
    committed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, first_rank)
);
CREATE INDEX list_appends_by_time ON list_appends (user_id, committed_at_ms);

-- When an append committed each book (ms since the Unix epoch): sent with
-- the book, so that a follower knows its lag. NULL for loaded books.
ALTER TABLE recommendations ADD COLUMN appended_at_ms BIGINT;
