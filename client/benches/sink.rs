//! The client's file writer per format: every book formatted and written
//! through the sink's buffer, then the file synced and renamed into place,
//! as one run of the trigger does.

use std::hint::black_box;

use bookstream::{BookRecommendation, catalog};
use bookstream_client::sink::{FileSink, Format};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const BOOKS: u64 = 100_000;

fn write_and_commit(c: &mut Criterion) {
    let books: Vec<BookRecommendation> = catalog::books(0, 0..BOOKS).collect();
    let dir = tempfile::tempdir().expect("a temporary directory for the outputs");
    let mut group = c.benchmark_group("sink");
    group.throughput(Throughput::Elements(BOOKS));
    // Each iteration writes ~10 MB and syncs it: fewer, longer samples.
    group.sample_size(10);
    for format in [Format::Txt, Format::Csv, Format::Jsonl] {
        let target = dir.path().join(format!("books.{}", format.name()));
        group.bench_with_input(
            BenchmarkId::new(format.name(), BOOKS),
            &books,
            |b, books| {
                b.iter(|| {
                    let mut sink = FileSink::create(&target, format).expect("the sink starts");
                    for book in books {
                        sink.write(black_box(&book.view()))
                            .expect("the book is written");
                    }
                    sink.commit().expect("the file is committed")
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, write_and_commit);
criterion_main!(benches);
