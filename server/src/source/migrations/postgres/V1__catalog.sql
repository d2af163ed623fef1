-- Bookstream's catalog in PostgreSQL: books, and each user's ranked list of them.

-- The books themselves.
CREATE TABLE books (
    book_id BIGINT  PRIMARY KEY,
    title   TEXT    NOT NULL,
    author  TEXT    NOT NULL,
    isbn13  TEXT    NOT NULL,
    year    INTEGER NOT NULL,
    genre   TEXT    NOT NULL
);

-- A user's recommendations: rank 0 is the best match, then 1, 2, ... with no
-- gaps. The primary key (user_id, rank) lets a stream seek straight to any
-- rank of one user and read on in order. book_id is not declared a foreign
-- key: the loader writes both tables in one transaction, and a foreign key
-- would fire a check per row of every bulk load.
CREATE TABLE recommendations (
    user_id BIGINT NOT NULL,
    rank    BIGINT NOT NULL CHECK (rank >= 0),
    book_id BIGINT NOT NULL,
    score   REAL   NOT NULL,
    PRIMARY KEY (user_id, rank)
);

-- How long each user's list is, so a stream can announce its count before
-- its first book without counting rows.
CREATE TABLE recommendation_lists (
    user_id   BIGINT      PRIMARY KEY,
    length    BIGINT      NOT NULL CHECK (length >= 0),
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
