-- Bookstream's catalog in SQLite: books, and each user's ranked list of them.

-- The books themselves.
CREATE TABLE books (
    book_id INTEGER PRIMARY KEY,
    title   TEXT    NOT NULL,
    author  TEXT    NOT NULL,
    isbn13  TEXT    NOT NULL,
    year    INTEGER NOT NULL,
    genre   TEXT    NOT NULL
);

-- A user's recommendations: rank 0 is the best match, then 1, 2, ... with no
-- gaps. The primary key (user_id, rank) clusters a user's list in rank order,
-- so a stream seeks straight to any rank and reads on. book_id is not
-- declared a foreign key: the loader writes both tables in one transaction,
-- and an enforced key would make every deleted book scan this table.
CREATE TABLE recommendations (
    user_id INTEGER NOT NULL,
    rank    INTEGER NOT NULL CHECK (rank >= 0),
    book_id INTEGER NOT NULL,
    score   REAL    NOT NULL,
    PRIMARY KEY (user_id, rank)
) WITHOUT ROWID;

-- How long each user's list is, so a stream can announce its count before
-- its first book without counting rows.
CREATE TABLE recommendation_lists (
    user_id   INTEGER PRIMARY KEY,
    length    INTEGER NOT NULL CHECK (length >= 0),
    loaded_at TEXT    NOT NULL
);
