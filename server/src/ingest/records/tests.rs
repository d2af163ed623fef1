//! Each format reads the same rows; hostile input is named, never a panic.

use std::path::PathBuf;

use super::*;

fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> Input {
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    Input::Path(path)
}

/// Every item of a file: its rows, its rejections, or the error that stopped it.
fn read(
    name: &str,
    bytes: &[u8],
    columns: &str,
) -> Result<Vec<Result<ImportRow, Rejection>>, ReadError> {
    let dir = tempfile::tempdir().unwrap();
    let input = file(&dir, name, bytes);
    let format = Format::from_input(&input).unwrap();
    open(&input, format, &columns.parse().unwrap())?.collect()
}

fn rejection(name: &str, bytes: &[u8]) -> Rejection {
    let items = read(name, bytes, "").unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    items.into_iter().next().unwrap().unwrap_err()
}

const CSV: &str = "\u{feff}user_id,title,author,isbn13,year,genre,score\n\
                   7,\"Quoted, \"\"with\"\" commas\",Ann,978-1-86197-876-9,1999,Fantasy,0.87\n\
                   7,\"Two\nlines\",Bo,,2001,Essay,0.5\n";
const JSONL: &str = "{\"user_id\":7,\"title\":\"Quoted, \\\"with\\\" commas\",\"author\":\"Ann\",\"isbn13\":\"978-1-86197-876-9\",\"year\":1999,\"genre\":\"Fantasy\",\"score\":0.87}\n\
                     \n\
                     {\"user_id\":7,\"title\":\"Two\\nlines\",\"author\":\"Bo\",\"year\":2001,\"genre\":\"Essay\",\"score\":0.5,\"extra\":[1]}\n";

#[test]
fn csv_and_json_lines_give_the_same_rows() {
    let csv = read("a.csv", CSV.as_bytes(), "").unwrap();
    let jsonl = read("a.jsonl", JSONL.as_bytes(), "").unwrap();
    assert_eq!(csv, jsonl);
    let first = csv[0].as_ref().unwrap();
    assert_eq!((first.row, first.user_id, first.rank), (1, 7, None));
    assert_eq!(first.book.title, "Quoted, \"with\" commas");
    assert_eq!(csv[1].as_ref().unwrap().book.title, "Two\nlines");
    assert_eq!(csv[1].as_ref().unwrap().book.isbn13, "");
}

#[test]
fn columns_can_be_mapped_and_a_missing_one_is_named() {
    let renamed = "customer,name,author,year,genre,score,rank\n3,T,A,2000,G,0.1,4\n";
    let rows = read("b.csv", renamed.as_bytes(), "user_id=customer,title=name").unwrap();
    let row = rows[0].as_ref().unwrap();
    assert_eq!(
        (row.user_id, row.rank, row.book.title.as_str()),
        (3, Some(4), "T")
    );
    let error = read("b.csv", renamed.as_bytes(), "")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("user_id") && error.contains("customer"),
        "{error}"
    );
}

#[test]
fn hostile_csv_rows_are_rejected_by_name() {
    let header = "user_id,title,author,year,genre,score\n";
    for (row, column, says) in [
        ("1,T,A,2000,G,NaN\n", "score", "NaN"),
        ("1,T,A,2000,G,inf\n", "score", "inf"),
        ("-4,T,A,2000,G,0.5\n", "user_id", "-4"),
        ("1,T,A,99999999999999999999,G,0.5\n", "year", "64 bits"),
        ("1,T,A,12000,G,0.5\n", "year", "12000"),
        ("1,T\0x,A,2000,G,0.5\n", "title", "NUL"),
    ] {
        let bad = rejection("h.csv", format!("{header}{row}").as_bytes());
        assert_eq!(bad.column, Some(column), "{row}: {bad}");
        assert!(bad.to_string().contains(says), "{row}: {bad}");
        assert!(bad.to_string().starts_with("row 1"), "{bad}");
    }
    let mut not_utf8 = header.as_bytes().to_vec();
    not_utf8.extend_from_slice(b"1,T\xff,A,2000,G,0.5\n");
    assert_eq!(rejection("u.csv", &not_utf8).column, Some("title"));
    let huge = format!("{header}1,{},A,2000,G,0.5\n", "x".repeat(10 << 20));
    assert!(
        rejection("big.csv", huge.as_bytes())
            .reason
            .contains("over the limit")
    );
    let short = rejection("s.csv", format!("{header}1,T,A\n").as_bytes());
    assert!(short.reason.contains("3 fields"), "{short}");
}

#[test]
fn an_unclosed_quote_and_an_empty_file_stop_the_read() {
    let unclosed = "user_id,title,author,year,genre,score\n1,T,A,2000,G,0.5\n2,\"Open,A,2000,G,0.5\n3,T,A,2000,G,0.5\n";
    let error = read("q.csv", unclosed.as_bytes(), "").unwrap_err();
    assert!(
        matches!(error, ReadError::UnclosedQuote { row: 2 }),
        "{error}"
    );
    for name in ["e.csv", "e.jsonl"] {
        let error = read(name, b"", "").unwrap_err();
        assert!(error.to_string().contains("empty"), "{name}: {error}");
    }
    assert!(
        read("h.csv", b"user_id,title,author,year,genre,score\n", "")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn json_lines_are_strict_about_types() {
    let line = |fields: &str| {
        format!(
            "{{\"user_id\":1,\"title\":\"T\",\"author\":\"A\",\"year\":2000,\"genre\":\"G\",\"score\":0.5,{fields}}}\n"
        )
    };
    for (fields, column, says) in [
        ("\"user_id\":\"1\"", "user_id", "string"),
        ("\"year\":2000.5", "year", "whole number"),
        ("\"title\":5", "title", "number"),
        ("\"score\":true", "score", "boolean"),
        ("\"score\":null", "score", "missing"),
        (
            "\"user_id\":18446744073709551615",
            "user_id",
            "whole number",
        ),
    ] {
        let bad = rejection("j.jsonl", line(fields).as_bytes());
        assert_eq!(bad.column, Some(column), "{fields}: {bad}");
        assert!(bad.reason.contains(says), "{fields}: {bad}");
    }
    let not_json = rejection("n.jsonl", b"{\"user_id\": 1,\n");
    assert!(not_json.reason.contains("JSON"), "{not_json}");
    let not_utf8 = rejection("b.jsonl", b"{\"title\":\"\xff\"}\n");
    assert!(not_utf8.reason.contains("UTF-8"), "{not_utf8}");
}

#[test]
fn formats_are_told_by_name_or_flag() {
    assert_eq!(Format::from_path("a.CSV".as_ref()), Ok(Format::Csv));
    assert_eq!(Format::from_path("a.ndjson".as_ref()), Ok(Format::Jsonl));
    assert_eq!(Format::from_path("a.parquet".as_ref()), Ok(Format::Parquet));
    assert!(Format::from_path("a.csv.gz".as_ref()).is_err());
    assert!(
        Format::from_input(&Input::Stdin)
            .unwrap_err()
            .to_string()
            .contains("--format")
    );
    assert!(
        "xml"
            .parse::<Format>()
            .unwrap_err()
            .to_string()
            .contains("csv, jsonl or parquet")
    );
    let error = open(&Input::Stdin, Format::Parquet, &ColumnMap::default())
        .err()
        .unwrap();
    assert!(matches!(error, ReadError::ParquetStdin));
}
