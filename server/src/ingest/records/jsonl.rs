//! JSON Lines: one object per line, strict types (a number is not a string).
//! Each line is read into a reused buffer and only the mapped keys are kept,
//! borrowed from it where no escape needs decoding.

use std::{borrow::Cow, fmt, io::BufRead};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::{
    Cell, ColumnMap, ImportRow, Input, ReadError, Rejection, build, columns::COLUMNS, reader,
};

pub(super) struct JsonlRows {
    reader: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    names: [String; 8],
    input: String,
    row: u64,
    failed: bool,
}

impl JsonlRows {
    pub(super) fn open(input: &Input, columns: &ColumnMap) -> Result<Self, ReadError> {
        let mut reader = reader(input)?;
        let empty = reader
            .fill_buf()
            .map_err(|source| ReadError::Io {
                input: input.to_string(),
                source,
            })?
            .is_empty();
        if empty {
            return Err(ReadError::Empty {
                input: input.to_string(),
            });
        }
        Ok(Self {
            reader,
            line: Vec::with_capacity(1024),
            names: std::array::from_fn(|index| columns.name(index).to_owned()),
            input: input.to_string(),
            row: 0,
            failed: false,
        })
    }

    fn parse(&self) -> Result<ImportRow, Rejection> {
        let text = std::str::from_utf8(&self.line).map_err(|_| Rejection {
            row: self.row,
            column: None,
            reason: "is not valid UTF-8".to_owned(),
        })?;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let values = Keys { names: &self.names }
            .deserialize(&mut deserializer)
            .and_then(|values| deserializer.end().map(|()| values))
            .map_err(|error| Rejection {
                row: self.row,
                column: None,
                reason: format!("is not a JSON object of a book: {error}"),
            })?;
        let cells = std::array::from_fn(|index| match &values[index] {
            None => Cell::Absent,
            Some(value) => value.cell(),
        });
        build(self.row, &cells)
    }
}

impl Iterator for JsonlRows {
    type Item = Result<Result<ImportRow, Rejection>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    self.failed = true;
                    return Some(Err(ReadError::Io {
                        input: self.input.clone(),
                        source,
                    }));
                }
            }
            // Blank lines separate nothing and are not rows.
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.row += 1;
            return Some(Ok(self.parse()));
        }
        None
    }
}

/// One JSON value of a mapped key.
enum Value<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Null,
    Other(&'static str),
}

impl Value<'_> {
    fn cell(&self) -> Cell<'_> {
        match self {
            Value::Str(text) => Cell::Str(text),
            Value::Int(value) => Cell::Int(*value),
            Value::Float(value) => Cell::Float(*value),
            Value::Null => Cell::Null,
            Value::Other(kind) => Cell::Other(kind),
        }
    }
}

/// Reads an object, keeping the values of the mapped keys in [`COLUMNS`] order.
struct Keys<'n> {
    names: &'n [String; 8],
}

impl<'de> DeserializeSeed<'de> for Keys<'_> {
    type Value = [Option<Value<'de>>; 8];

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Keys<'_> {
    type Value = [Option<Value<'de>>; 8];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with the keys {}", COLUMNS.join(", "))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values: [Option<Value<'de>>; 8] = Default::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.names.iter().position(|name| *name == key) {
                Some(index) => values[index] = Some(map.next_value_seed(AnyValue)?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

struct AnyValue;

impl<'de> DeserializeSeed<'de> for AnyValue {
    type Value = Value<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyValue {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Ok(Value::Int(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        // Past i64::MAX no user, year or rank fits: say so by its value.
        Ok(i64::try_from(value).map_or(Value::Float(value as f64), Value::Int))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        Ok(Value::Float(value))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Value::Other("a boolean"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Other("an object"))
    }
}
