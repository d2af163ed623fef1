-- A list's rows carry their books: a stream reads one table in rank order,
-- with no lookup of another table per book. Every book belonged to exactly
-- one row of one list, so nothing is lost; `books` goes.

CREATE TABLE recommendations_v4 (
    user_id        INTEGER NOT NULL,
    rank           INTEGER NOT NULL CHECK (rank >= 0),
    score          REAL    NOT NULL,
    year           INTEGER NOT NULL,
    -- When an append committed the book (ms since the Unix epoch), NULL for
    -- loaded and imported books.
    appended_at_ms INTEGER,
    title          TEXT    NOT NULL,
    author         TEXT    NOT NULL,
    isbn13         TEXT    NOT NULL,
    genre          TEXT    NOT NULL,
    PRIMARY KEY (user_id, rank)
) WITHOUT ROWID;

INSERT INTO recommendations_v4
    (user_id, rank, score, year, appended_at_ms, title, author, isbn13, genre)
SELECT r.user_id, r.rank, r.score, b.year, r.appended_at_ms, b.title, b.author, b.isbn13, b.genre
FROM recommendations AS r JOIN books AS b ON b.book_id = r.book_id
ORDER BY r.user_id, r.rank;

DROP TABLE recommendations;
DROP TABLE books;
ALTER TABLE recommendations_v4 RENAME TO recommendations;
