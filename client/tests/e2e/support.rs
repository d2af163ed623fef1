//! The suite's test server, client and stores come from the shared testkit;
//! what is left here reads back the files a run writes.

use std::path::Path;

use bookstream::BookRecommendation;
use bookstream_client::sink::Format;
pub(crate) use bookstream_testkit::{
    client::{TestClient, client_config, spawn_client, spawn_client_from, spawn_client_with},
    server::{
        TestServer, server_config, spawn_server, spawn_server_at, spawn_server_with,
        wait_for_a_stream,
    },
    store::TestStore,
};

/// The books of an output file, read back in its format. A txt file holds
/// only ids and titles, so the other fields come back empty.
pub(crate) fn read_back(path: &Path, format: Format) -> Vec<BookRecommendation> {
    let text = std::fs::read_to_string(path).unwrap();
    match format {
        Format::Txt => text
            .lines()
            .map(|line| {
                let (id, title) = line.split_once(", ").expect("txt lines are `id, title`");
                BookRecommendation {
                    id: id.parse().unwrap(),
                    title: title.to_owned(),
                    ..Default::default()
                }
            })
            .collect(),
        Format::Csv => csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap(),
        Format::Jsonl => text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect(),
    }
}

/// The catalog's books as a file of `format` can hold them.
pub(crate) fn expected_books(user_id: u64, count: u64, format: Format) -> Vec<BookRecommendation> {
    bookstream::catalog::books(user_id, 0..count)
        .map(|book| match format {
            Format::Txt => BookRecommendation {
                id: book.id,
                title: book.title,
                ..Default::default()
            },
            Format::Csv | Format::Jsonl => book,
        })
        .collect()
}

/// The file a run of `count` books of `user_id` from the generated catalog
/// writes, made by the client's own sink without any network.
pub(crate) fn generated_file(user_id: u64, count: u64, format: Format) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated");
    let mut sink = bookstream_client::sink::FileSink::create(&path, format).unwrap();
    for book in bookstream::catalog::books(user_id, 0..count) {
        sink.write(&book.view()).unwrap();
    }
    sink.commit().unwrap();
    std::fs::read(&path).unwrap()
}
