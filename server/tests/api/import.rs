//! `server load --from`: files written by a data team's own tools (Python's
//! csv and json modules, pyarrow for Parquet) load into each store and
//! stream back exactly; bad rows are named and, past --max-errors, nothing
//! is committed; a load killed midway leaves the store as it was.

use std::{path::Path, process::Output, time::Duration};

use bookstream::BookRecommendation;
use bookstream_testkit::required;

use crate::support::{TestStore, collect, for_each_store, request};

const USERS: u64 = 3;
const BOOKS: u64 = 40;

/// Writes the dataset in every format. Titles hold commas, quotes, a
/// newline and non-ASCII text; the CSV starts with a UTF-8 BOM; Parquet is
/// written in several row groups.
const WRITE_DATASET: &str = r#"
import csv, json, sys
rows = []
for user in range(1, USERS + 1):
    for i in range(BOOKS):
        title = f'Book {user}-{i}, "vol" {i}' + ("\nsecond line" if i == 7 else "") + (" é" if i % 5 == 0 else "")
        rows.append({"customer": user, "title": title, "author": f"Author {i % 7}",
                     "isbn13": "978-1-86197-876-9" if i % 3 == 0 else "",
                     "year": 1900 + i, "genre": "Fantasy", "score": round(1 - i / 100, 2)})
out = sys.argv[1]
with open(out + "/books.csv", "w", newline="", encoding="utf-8-sig") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
with open(out + "/books.jsonl", "w", encoding="utf-8") as f:
    for row in rows:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
import pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.Table.from_pylist(rows), out + "/books.parquet", row_group_size=17)
"#;

/// The books user `user` gets from the dataset, as a stream sends them.
fn expected(user: u64) -> Vec<BookRecommendation> {
    (0..BOOKS)
        .map(|i| BookRecommendation {
            id: i,
            title: format!("Book {user}-{i}, \"vol\" {i}")
                + if i == 7 { "\nsecond line" } else { "" }
                + if i % 5 == 0 { " é" } else { "" },
            author: format!("Author {}", i % 7),
            isbn13: if i % 3 == 0 {
                "978-1-86197-876-9".to_owned()
            } else {
                String::new()
            },
            year: 1900 + i as u32,
            genre: "Fantasy".to_owned(),
            score: ((100 - i) as f32) / 100.0,
            // Loaded, not appended: no append time.
            appended_at_ms: 0,
        })
        .collect()
}

/// The dataset's files in `dir`, or `None` where pyarrow is missing (and not required).
fn write_dataset(dir: &Path) -> Option<()> {
    let python = std::env::var_os("BOOKSTREAM_PYTHON").unwrap_or_else(|| "python3".into());
    let script = WRITE_DATASET
        .replace("USERS", &USERS.to_string())
        .replace("BOOKS", &BOOKS.to_string());
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !required("PYARROW"),
            "writing the dataset failed (pip install -r server/tests/requirements.txt): {stderr}"
        );
        eprintln!("skipped: writing the dataset with pyarrow failed: {stderr}");
        return None;
    }
    Some(())
}

async fn load(catalog: &str, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["load", "--catalog", catalog])
        .args(args)
        .env_remove("BOOKSTREAM_CATALOG")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the load ends by itself")
        .expect("the server binary runs")
}

fn catalog_of(store: &TestStore) -> String {
    store.spec().reveal()
}

async fn every_format_loads_and_streams_back_exactly(store: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    if write_dataset(dir.path()).is_none() {
        return;
    }
    let server = store.serve().await;
    for file in ["books.csv", "books.jsonl", "books.parquet"] {
        let path = dir.path().join(file);
        let output = load(
            &catalog_of(&store),
            &[
                "--from",
                path.to_str().unwrap(),
                "--columns",
                "user_id=customer",
            ],
        )
        .await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("loaded 120 books for 3 users"),
            "{file}: {stdout}"
        );
        for user in 1..=USERS {
            let books = collect(server.stream(request(user, 1000)).await).await;
            assert_eq!(books, expected(user), "{file}, user {user}");
        }
        // Replacing, not adding: the store holds one copy of the dataset.
        assert_eq!(store.rows("recommendations").await, USERS * BOOKS, "{file}");
    }

    // --append puts the file's books after each user's last rank.
    let jsonl = dir.path().join("books.jsonl");
    let output = load(
        &catalog_of(&store),
        &[
            "--from",
            jsonl.to_str().unwrap(),
            "--columns",
            "user_id=customer",
            "--append",
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let books = collect(server.stream(request(2, 1000)).await).await;
    assert_eq!(books.len() as u64, 2 * BOOKS);
    assert_eq!(books[BOOKS as usize].id, BOOKS);
    assert_eq!(books[BOOKS as usize].title, expected(2)[0].title);
}

async fn bad_rows_are_named_and_past_max_errors_nothing_is_loaded(store: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.csv");
    std::fs::write(
        &path,
        "user_id,title,author,year,genre,score\n\
         1,Good One,A,2001,G,0.5\n\
         1,Bad Score,A,2001,G,NaN\n\
         -4,Bad User,A,2001,G,0.5\n\
         1,Bad Year,A,99999,G,0.5\n\
         1,Good Two,A,2002,G,0.4\n",
    )
    .unwrap();
    let before = store.rows("recommendations").await;
    let output = load(
        &catalog_of(&store),
        &["--from", path.to_str().unwrap(), "--max-errors", "2"],
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for says in ["row 2", "score", "row 3", "user_id", "nothing was loaded"] {
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
    assert_eq!(store.rows("recommendations").await, before);
    let rejects = std::fs::read_to_string(dir.path().join("team.csv.rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 1 + 3, "{rejects}");

    let output = load(
        &catalog_of(&store),
        &["--from", path.to_str().unwrap(), "--max-errors", "3"],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3 bad rows skipped"), "{stdout}");
    let books = collect(server_books(&store, 1).await).await;
    let titles: Vec<_> = books.iter().map(|book| book.title.as_str()).collect();
    assert_eq!(titles, ["Good One", "Good Two"]);
}

async fn server_books(store: &TestStore, user: u64) -> tonic::Streaming<BookRecommendation> {
    let server = store.serve().await;
    let stream = server.stream(request(user, 1000)).await;
    // The stream is read to its end before the server is dropped.
    std::mem::forget(server);
    stream
}

for_each_store!(
    10;
    every_format_loads_and_streams_back_exactly,
    bad_rows_are_named_and_past_max_errors_nothing_is_loaded,
);

#[tokio::test]
async fn a_load_killed_midway_leaves_the_store_as_it_was() {
    let store = TestStore::sqlite("1", 10).await;
    let path = store.path().to_owned();
    let mut load = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["load", "--catalog", &format!("sqlite:{}", path.display())])
        .args(["--from", "-", "--format", "csv"])
        .env_remove("BOOKSTREAM_CATALOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = load.stdin.take().unwrap();
    let mut csv = String::from("user_id,title,author,year,genre,score\n");
    for i in 0..200_000 {
        csv.push_str(&format!("1,Title {i},A,2001,G,0.5\n"));
    }
    use tokio::io::AsyncWriteExt;
    stdin.write_all(csv.as_bytes()).await.unwrap();
    // The load has written into its transaction once its journal holds pages.
    let journal = path.with_file_name("catalog.db-journal");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&journal)
        .map(|meta| meta.len())
        .unwrap_or(0)
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the load never wrote"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    load.kill().await.unwrap();
    drop(stdin);
    assert_eq!(store.rows("recommendations").await, 10);
    let books = collect(server_books(&store, 1).await).await;
    assert_eq!(
        books,
        bookstream::catalog::books(1, 0..10).collect::<Vec<_>>()
    );
}

/// Parquet files a data team might hand over by mistake, written by pyarrow.
const WRITE_WRONG_PARQUET: &str = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
out = sys.argv[1]
rows = [{"user_id": 1, "title": "T", "author": "A", "year": 2000, "genre": "G", "score": "high"}]
pq.write_table(pa.Table.from_pylist(rows), out + "/schema.parquet")
rows[0]["score"] = 0.5
pq.write_table(pa.Table.from_pylist(rows), out + "/zstd.parquet", compression="zstd")
"#;

#[tokio::test]
async fn a_parquet_file_of_another_schema_or_codec_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let python = std::env::var_os("BOOKSTREAM_PYTHON").unwrap_or_else(|| "python3".into());
    let written = std::process::Command::new(python)
        .args(["-c", WRITE_WRONG_PARQUET])
        .arg(dir.path())
        .status()
        .is_ok_and(|status| status.success());
    if !written {
        assert!(!required("PYARROW"), "pyarrow is missing");
        return;
    }
    let store = TestStore::sqlite("1", 10).await;
    for (file, says) in [("schema.parquet", "score"), ("zstd.parquet", "ZSTD")] {
        let path = dir.path().join(file);
        let output = load(&catalog_of(&store), &["--from", path.to_str().unwrap()]).await;
        assert!(!output.status.success(), "{file}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.to_uppercase().contains(&says.to_uppercase()),
            "{file}: {stderr}"
        );
        assert_eq!(store.rows("recommendations").await, 10, "{file}");
    }
}
