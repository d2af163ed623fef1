//! Every output file is checked before its time counts: the right number of
//! lines, and a spread of them equal to the catalog.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
};

use bookstream::{BookRecommendation, catalog};
use bookstream_client::sink::Format;

/// How many books per file are compared field by field with the catalog.
const SAMPLES: u64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds {found} books, {expected} were asked for")]
    Count {
        path: String,
        found: u64,
        expected: u64,
    },
    #[error("{path} line {line}: expected {expected:?}, found {found:?}")]
    Mismatch {
        path: String,
        line: u64,
        expected: String,
        found: String,
    },
}

/// Checks that `path` holds exactly the `count` books of `user_id` in `format`.
pub fn check_file(
    path: &Path,
    format: Format,
    user_id: u64,
    count: u64,
) -> Result<(), VerifyError> {
    let shown = path.display().to_string();
    let read_error = |source| VerifyError::Read {
        path: shown.clone(),
        source,
    };
    let reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(read_error)?);
    let stride = (count / SAMPLES).max(1);
    let header_lines = u64::from(format == Format::Csv);
    let mut books = 0u64;
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(read_error)?;
        let Some(id) = (index as u64).checked_sub(header_lines) else {
            continue;
        };
        books += 1;
        if (id % stride == 0 || id + 1 == count) && !matches_catalog(format, &line, user_id, id) {
            let expected = catalog::book(user_id, id);
            return Err(VerifyError::Mismatch {
                path: shown,
                line: index as u64 + 1,
                expected: format!("{expected:?}"),
                found: line,
            });
        }
    }
    if books != count {
        return Err(VerifyError::Count {
            path: shown,
            found: books,
            expected: count,
        });
    }
    Ok(())
}

/// Whether one line of the file is book `id` of the catalog, as far as the
/// format carries it (txt holds only id and title).
fn matches_catalog(format: Format, line: &str, user_id: u64, id: u64) -> bool {
    let expected = catalog::book(user_id, id);
    match format {
        Format::Txt => line == format!("{}, {}", expected.id, expected.title),
        Format::Jsonl => {
            serde_json::from_str::<BookRecommendation>(line).is_ok_and(|book| book == expected)
        }
        Format::Csv => csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes())
            .deserialize::<BookRecommendation>()
            .next()
            .is_some_and(|book| book.is_ok_and(|book| book == expected)),
    }
}
