//! Reading a team's files: CSV, JSON Lines and Parquet rows, each checked
//! against the contract ([`check_book`]) as it is read, in flat memory (a
//! record at a time; Parquet a row group at a time).

mod book;
mod columns;
mod csv;
mod format;
mod jsonl;
mod parquet;
#[cfg(test)]
mod tests;

use std::fmt;

pub use book::{Fault, NewBook, check_book, check_rank, check_user, limits};
pub use columns::{COLUMNS, ColumnMap, ColumnsError};
pub use format::{Format, FormatError, Input};

use columns::{AUTHOR, GENRE, ISBN13, RANK, SCORE, TITLE, USER_ID, YEAR};

/// One data row of a file, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// 1-based data row number; a CSV header does not count.
    pub row: u64,
    pub user_id: u64,
    pub rank: Option<u64>,
    pub book: NewBook,
}

/// A row that breaks the contract: it is skipped and reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub row: u64,
    pub column: Option<&'static str>,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "row {}, column {column}: {}", self.row, self.reason),
            None => write!(f, "row {}: {}", self.row, self.reason),
        }
    }
}

/// What stops a file from being read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {input}: {source}")]
    Io {
        input: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{input} is empty: a file needs at least a header (CSV) or a row")]
    Empty { input: String },
    #[error(
        "the file has no column {name} for `{column}` (found: {}); map another with --columns {column}=NAME",
        found.join(", ")
    )]
    MissingColumn {
        column: &'static str,
        name: String,
        found: Vec<String>,
    },
    #[error("CSV row {row}: a quote opened in this row is never closed")]
    UnclosedQuote { row: u64 },
    #[error("CSV row {row}: {source}")]
    Csv {
        row: u64,
        #[source]
        source: ::csv::Error,
    },
    #[error("the Parquet file's column {name} (for `{column}`) is {found}; it must be {expected}")]
    ParquetType {
        column: &'static str,
        name: String,
        found: String,
        expected: &'static str,
    },
    #[error(
        "the Parquet file is compressed with {codec}, which Bookstream does not read: \
         write it with Snappy (pyarrow's and Spark's default) or uncompressed"
    )]
    ParquetCodec { codec: String },
    #[error("Parquet needs a file it can seek: give a path, not -")]
    ParquetStdin,
    #[error("reading the Parquet file failed: {source}")]
    Parquet {
        #[source]
        source: ::parquet::errors::ParquetError,
    },
}

/// One cell as a format gives it, before it is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// The column is not in the file.
    Absent,
    /// The column is there, the value is not (JSON null, a Parquet null).
    Null,
    /// Untyped text (CSV): numbers are parsed from it.
    Raw(&'a str),
    /// A typed string (JSON, Parquet).
    Str(&'a str),
    Int(i64),
    Float(f64),
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// Any other type, by name.
    Other(&'static str),
}

/// The rows of one input, in file order.
pub struct Rows {
    inner: Inner,
}

enum Inner {
    Csv(csv::CsvRows),
    Jsonl(jsonl::JsonlRows),
    Parquet(parquet::ParquetRows),
}

impl Iterator for Rows {
    type Item = Result<Result<ImportRow, Rejection>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Csv(rows) => rows.next(),
            Inner::Jsonl(rows) => rows.next(),
            Inner::Parquet(rows) => rows.next(),
        }
    }
}

/// Opens `input` as `format`, its columns named as `columns` says.
pub fn open(input: &Input, format: Format, columns: &ColumnMap) -> Result<Rows, ReadError> {
    let inner = match format {
        Format::Csv => Inner::Csv(csv::CsvRows::open(input, columns)?),
        Format::Jsonl => Inner::Jsonl(jsonl::JsonlRows::open(input, columns)?),
        Format::Parquet => Inner::Parquet(parquet::ParquetRows::open(input, columns)?),
    };
    Ok(Rows { inner })
}

/// The bytes of `input`, buffered.
fn reader(input: &Input) -> Result<Box<dyn std::io::BufRead + Send>, ReadError> {
    match input {
        Input::Stdin => Ok(Box::new(std::io::BufReader::with_capacity(
            1 << 16,
            std::io::stdin(),
        ))),
        Input::Path(path) => {
            let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
                input: path.display().to_string(),
                source,
            })?;
            Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, file)))
        }
    }
}

/// A row from its cells, in [`COLUMNS`] order; the first bad cell rejects it.
pub(crate) fn build(row: u64, cells: &[Cell<'_>; 8]) -> Result<ImportRow, Rejection> {
    let reject = |fault: Fault| Rejection {
        row,
        column: Some(fault.column),
        reason: fault.reason,
    };
    let user_id = integer(COLUMNS[USER_ID], cells[USER_ID])
        .and_then(|value| value.ok_or_else(|| Fault::new("user_id", "is missing")))
        .and_then(check_user)
        .map_err(reject)?;
    let title = text(COLUMNS[TITLE], cells[TITLE]).map_err(reject)?;
    let author = text(COLUMNS[AUTHOR], cells[AUTHOR]).map_err(reject)?;
    let isbn13 = match cells[ISBN13] {
        Cell::Absent | Cell::Null => "",
        cell => text(COLUMNS[ISBN13], cell).map_err(reject)?,
    };
    let year = integer(COLUMNS[YEAR], cells[YEAR])
        .and_then(|value| value.ok_or_else(|| Fault::new("year", "is missing")))
        .map_err(reject)?;
    let genre = text(COLUMNS[GENRE], cells[GENRE]).map_err(reject)?;
    let score = number(COLUMNS[SCORE], cells[SCORE]).map_err(reject)?;
    let rank = integer(COLUMNS[RANK], cells[RANK])
        .and_then(|rank| rank.map(check_rank).transpose())
        .map_err(reject)?;
    let book = check_book(title, author, isbn13, year, genre, score).map_err(reject)?;
    Ok(ImportRow {
        row,
        user_id,
        rank,
        book,
    })
}

fn text<'a>(column: &'static str, cell: Cell<'a>) -> Result<&'a str, Fault> {
    match cell {
        Cell::Raw(text) | Cell::Str(text) => Ok(text),
        Cell::Absent | Cell::Null => Err(Fault::new(column, "is missing")),
        Cell::NotUtf8 => Err(Fault::new(column, "is not valid UTF-8")),
        Cell::Int(_) | Cell::Float(_) => Err(Fault::new(column, "is a number, not text")),
        Cell::Other(kind) => Err(Fault::new(column, format!("is {kind}, not text"))),
    }
}

/// A whole number, or `None` where the cell is empty.
fn integer(column: &'static str, cell: Cell<'_>) -> Result<Option<i64>, Fault> {
    match cell {
        Cell::Absent | Cell::Null => Ok(None),
        Cell::Raw(text) if text.trim().is_empty() => Ok(None),
        Cell::Raw(text) => text.trim().parse().map(Some).map_err(|_| {
            Fault::new(
                column,
                format!(
                    "'{}' is not a whole number that fits 64 bits",
                    text.escape_debug()
                ),
            )
        }),
        Cell::Int(value) => Ok(Some(value)),
        Cell::Float(value) => Err(Fault::new(column, format!("{value} is not a whole number"))),
        Cell::Str(_) => Err(Fault::new(column, "is a string, not a whole number")),
        Cell::NotUtf8 => Err(Fault::new(column, "is not valid UTF-8")),
        Cell::Other(kind) => Err(Fault::new(column, format!("is {kind}, not a whole number"))),
    }
}

fn number(column: &'static str, cell: Cell<'_>) -> Result<f64, Fault> {
    match cell {
        Cell::Absent | Cell::Null => Err(Fault::new(column, "is missing")),
        Cell::Raw(text) => text
            .trim()
            .parse()
            .map_err(|_| Fault::new(column, format!("'{}' is not a number", text.escape_debug()))),
        Cell::Int(value) => Ok(value as f64),
        Cell::Float(value) => Ok(value),
        Cell::Str(_) => Err(Fault::new(column, "is a string, not a number")),
        Cell::NotUtf8 => Err(Fault::new(column, "is not valid UTF-8")),
        Cell::Other(kind) => Err(Fault::new(column, format!("is {kind}, not a number"))),
    }
}
