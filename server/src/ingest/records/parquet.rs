//! Parquet through the `parquet` crate's record API: flat columns found by
//! name, their types checked before the first row, one row group in memory
//! at a time.

use std::sync::Arc;

use ::parquet::{
    basic::{Compression, ConvertedType, LogicalType, Type as Physical},
    errors::ParquetError,
    file::reader::{FileReader, SerializedFileReader},
    record::{Field, Row, reader::RowIter},
    schema::types::Type,
};

use super::{
    Cell, ColumnMap, ImportRow, Input, ReadError, Rejection, build,
    columns::{COLUMNS, GENRE, ISBN13, RANK, SCORE, TITLE, USER_ID, YEAR},
};

pub(super) struct ParquetRows {
    rows: RowIter<'static>,
    /// For each projected column, its place in [`COLUMNS`].
    places: Vec<usize>,
    row: u64,
    failed: bool,
}

/// What a column of the contract must be stored as.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Integer,
    Number,
    Text,
}

fn kind(column: usize) -> Kind {
    match column {
        USER_ID | YEAR | RANK => Kind::Integer,
        SCORE => Kind::Number,
        TITLE | ISBN13 | GENRE => Kind::Text,
        _ => Kind::Text,
    }
}

fn parquet(source: ParquetError) -> ReadError {
    ReadError::Parquet { source }
}

impl ParquetRows {
    pub(super) fn open(input: &Input, columns: &ColumnMap) -> Result<Self, ReadError> {
        let Input::Path(path) = input else {
            return Err(ReadError::ParquetStdin);
        };
        let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
            input: path.display().to_string(),
            source,
        })?;
        if file.metadata().map(|meta| meta.len()).unwrap_or(0) == 0 {
            return Err(ReadError::Empty {
                input: input.to_string(),
            });
        }
        let reader = SerializedFileReader::new(file).map_err(parquet)?;
        // Only Snappy is compiled in: say so before the first row, by name.
        for group in reader.metadata().row_groups() {
            for chunk in group.columns() {
                let codec = chunk.compression();
                if !matches!(codec, Compression::UNCOMPRESSED | Compression::SNAPPY) {
                    return Err(ReadError::ParquetCodec {
                        codec: codec.to_string(),
                    });
                }
            }
        }
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let fields = schema.root_schema().get_fields().to_vec();
        let names: Vec<&str> = fields.iter().map(|field| field.name()).collect();
        let at = columns.locate(&names)?;
        let mut projected: Vec<Arc<Type>> = Vec::new();
        let mut places = Vec::new();
        for (column, at) in at.iter().enumerate() {
            let Some(at) = *at else { continue };
            let field = &fields[at];
            check_type(column, field)?;
            projected.push(field.clone());
            places.push(column);
        }
        let projection = Type::group_type_builder("schema")
            .with_fields(projected)
            .build()
            .map_err(parquet)?;
        let rows = RowIter::from_file_into(Box::new(reader))
            .project(Some(projection))
            .map_err(parquet)?;
        Ok(Self {
            rows,
            places,
            row: 0,
            failed: false,
        })
    }

    fn parse(&self, row: &Row) -> Result<ImportRow, Rejection> {
        let mut cells = [Cell::Absent; 8];
        for ((_, field), &column) in row.get_column_iter().zip(&self.places) {
            cells[column] = cell(field);
        }
        build(self.row, &cells)
    }
}

impl Iterator for ParquetRows {
    type Item = Result<Result<ImportRow, Rejection>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.rows.next()? {
            Ok(row) => {
                self.row += 1;
                Some(Ok(self.parse(&row)))
            }
            Err(source) => {
                self.failed = true;
                Some(Err(parquet(source)))
            }
        }
    }
}

/// A flat column of the type its contract column needs, else why not.
fn check_type(column: usize, field: &Type) -> Result<(), ReadError> {
    let expected = match kind(column) {
        Kind::Integer => "a whole number (INT32 or INT64)",
        Kind::Number => "a number (FLOAT, DOUBLE or an integer)",
        Kind::Text => "text (a UTF-8 string)",
    };
    let mismatch = |found: String| ReadError::ParquetType {
        column: COLUMNS[column],
        name: field.name().to_owned(),
        found,
        expected,
    };
    if !field.is_primitive() {
        return Err(mismatch("a group".to_owned()));
    }
    let physical = field.get_physical_type();
    let info = field.get_basic_info();
    let string = matches!(info.logical_type_ref(), Some(LogicalType::String))
        || info.converted_type() == ConvertedType::UTF8;
    let fits = match kind(column) {
        Kind::Integer => matches!(physical, Physical::INT32 | Physical::INT64),
        Kind::Number => matches!(
            physical,
            Physical::FLOAT | Physical::DOUBLE | Physical::INT32 | Physical::INT64
        ),
        Kind::Text => physical == Physical::BYTE_ARRAY && string,
    };
    if fits {
        Ok(())
    } else if physical == Physical::BYTE_ARRAY && !string {
        Err(mismatch(
            "binary (BYTE_ARRAY without a string type)".to_owned(),
        ))
    } else {
        Err(mismatch(physical.to_string()))
    }
}

fn cell(field: &Field) -> Cell<'_> {
    match field {
        Field::Null => Cell::Null,
        Field::Str(text) => Cell::Str(text),
        Field::Byte(value) => Cell::Int(i64::from(*value)),
        Field::Short(value) => Cell::Int(i64::from(*value)),
        Field::Int(value) => Cell::Int(i64::from(*value)),
        Field::Long(value) => Cell::Int(*value),
        Field::UByte(value) => Cell::Int(i64::from(*value)),
        Field::UShort(value) => Cell::Int(i64::from(*value)),
        Field::UInt(value) => Cell::Int(i64::from(*value)),
        Field::ULong(value) => i64::try_from(*value).map_or(Cell::Float(*value as f64), Cell::Int),
        Field::Float(value) => Cell::Float(f64::from(*value)),
        Field::Double(value) => Cell::Float(*value),
        Field::Bytes(_) => Cell::NotUtf8,
        Field::Bool(_) => Cell::Other("a boolean"),
        _ => Cell::Other("a nested or special value"),
    }
}
