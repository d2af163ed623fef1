//! Which file, and in which format.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

/// The file formats `server load --from` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

/// Where rows come from: a file, or standard input (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown format '{0}': use csv, jsonl or parquet")]
    Unknown(String),
    #[error(
        "cannot tell the format of {0} from its name: give --format csv|jsonl|parquet (compressed files: decompress first)"
    )]
    Unnamed(PathBuf),
    #[error("standard input has no name to tell its format by: give --format csv|jsonl|parquet")]
    Stdin,
}

impl FromStr for Format {
    type Err = FormatError;

    fn from_str(value: &str) -> Result<Self, FormatError> {
        match value.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" | "json-lines" => Ok(Format::Jsonl),
            "parquet" => Ok(Format::Parquet),
            _ => Err(FormatError::Unknown(value.to_owned())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        })
    }
}

impl Format {
    /// The format a file's extension names.
    pub fn from_path(path: &Path) -> Result<Self, FormatError> {
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "parquet" | "pq" => Ok(Format::Parquet),
            _ => Err(FormatError::Unnamed(path.to_owned())),
        }
    }

    /// The format of `input`, by its name.
    pub fn from_input(input: &Input) -> Result<Self, FormatError> {
        match input {
            Input::Stdin => Err(FormatError::Stdin),
            Input::Path(path) => Self::from_path(path),
        }
    }
}

impl FromStr for Input {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(if value == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(value))
        })
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stdin => f.write_str("standard input"),
            Input::Path(path) => write!(f, "{}", path.display()),
        }
    }
}
