//! What the catalog costs per book: the server generates every book it
//! sends, so this bounds any transport's books/s.

use std::hint::black_box;

use bookstream::catalog;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("catalog");
    group.throughput(Throughput::Elements(1));
    group.bench_function("book", |b| {
        let mut id = 0u64;
        b.iter(|| {
            // A new id each time, as a stream asks for them.
            id = id.wrapping_add(1);
            catalog::book(black_box(7), id)
        });
    });
    group.bench_function("book_into", |b| {
        let mut id = 0u64;
        let mut scratch = catalog::BookBuf::default();
        b.iter(|| {
            id = id.wrapping_add(1);
            catalog::book_into(black_box(7), id, &mut scratch)
                .title
                .len()
        });
    });
    for count in [1_000u64, 100_000] {
        group.throughput(Throughput::Elements(count));
        group.bench_with_input(BenchmarkId::new("books", count), &count, |b, &count| {
            b.iter(|| {
                catalog::books(black_box(7), 0..count)
                    .map(|book| book.title.len())
                    .sum::<usize>()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);
