//! CSV with a header row, RFC 4180 (quotes, embedded newlines), through the
//! `csv` crate, one reused record at a time.

use ::csv::{ByteRecord, Reader, ReaderBuilder};

use super::{Cell, ColumnMap, ImportRow, Input, ReadError, Rejection, build, reader};

pub(super) struct CsvRows {
    reader: Reader<Box<dyn std::io::BufRead + Send>>,
    record: ByteRecord,
    at: [Option<usize>; 8],
    fields: usize,
    row: u64,
    failed: bool,
    /// A record read ahead to see whether the file ended.
    ahead: Option<ByteRecord>,
}

impl CsvRows {
    pub(super) fn open(input: &Input, columns: &ColumnMap) -> Result<Self, ReadError> {
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            // A row with the wrong number of fields is that row's fault, not the file's.
            .flexible(true)
            .from_reader(reader(input)?);
        let headers = reader
            .byte_headers()
            .map_err(|source| ReadError::Csv { row: 0, source })?
            .clone();
        if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
            return Err(ReadError::Empty {
                input: input.to_string(),
            });
        }
        let names: Vec<String> = headers
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let name = String::from_utf8_lossy(name);
                // A UTF-8 byte order mark belongs to the file, not to the first name.
                let name = if index == 0 {
                    name.trim_start_matches('\u{feff}')
                } else {
                    &name
                };
                name.trim().to_owned()
            })
            .collect();
        let at = columns.locate(&names)?;
        Ok(Self {
            reader,
            record: ByteRecord::new(),
            at,
            fields: headers.len(),
            row: 0,
            failed: false,
            ahead: None,
        })
    }

    fn cells(&self) -> Result<[Cell<'_>; 8], Rejection> {
        if self.record.len() != self.fields {
            return Err(Rejection {
                row: self.row,
                column: None,
                reason: format!(
                    "has {} fields; the header has {}",
                    self.record.len(),
                    self.fields
                ),
            });
        }
        Ok(self.at.map(|at| match at {
            None => Cell::Absent,
            Some(index) => match std::str::from_utf8(&self.record[index]) {
                Ok(text) => Cell::Raw(text),
                Err(_) => Cell::NotUtf8,
            },
        }))
    }

    /// A quote left open swallows the rest of the file into one field: the
    /// last record is then malformed and holds a line break. Reads one
    /// record ahead to see whether this is the last.
    fn unclosed_quote(&mut self) -> bool {
        if !self.record.iter().any(|field| field.contains(&b'\n')) {
            return false;
        }
        let mut ahead = ByteRecord::new();
        match self.reader.read_byte_record(&mut ahead) {
            Ok(false) => true,
            Ok(true) => {
                self.ahead = Some(ahead);
                false
            }
            Err(_) => false,
        }
    }
}

impl Iterator for CsvRows {
    type Item = Result<Result<ImportRow, Rejection>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let read = match self.ahead.take() {
            Some(ahead) => {
                self.record = ahead;
                Ok(true)
            }
            None => self.reader.read_byte_record(&mut self.record),
        };
        match read {
            Ok(false) => return None,
            Ok(true) => {}
            Err(source) => {
                self.failed = true;
                return Some(Err(ReadError::Csv {
                    row: self.row + 1,
                    source,
                }));
            }
        }
        self.row += 1;
        let built = self.cells().and_then(|cells| build(self.row, &cells));
        if built.is_err() && self.unclosed_quote() {
            self.failed = true;
            return Some(Err(ReadError::UnclosedQuote { row: self.row }));
        }
        Some(Ok(built))
    }
}
