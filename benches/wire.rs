//! One book on the wire, per book: the borrowed encoder and decoder of
//! `bookstream::wire` beside prost's own, on the same catalog books.

use std::hint::black_box;

use bookstream::{BookRecommendation, book::BookView, catalog};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;

const BOOKS: u64 = 1_000;

fn encode(c: &mut Criterion) {
    let books: Vec<BookRecommendation> = catalog::books(3, 0..BOOKS).collect();
    let mut group = c.benchmark_group("encode_book");
    group.throughput(Throughput::Elements(BOOKS));
    let mut buffer = Vec::with_capacity(256 * BOOKS as usize);
    group.bench_function("prost", |b| {
        b.iter(|| {
            buffer.clear();
            for book in &books {
                book.encode(&mut buffer).expect("a Vec grows as needed");
            }
            black_box(buffer.len())
        });
    });
    // Into a BytesMut, as tonic's encoder writes.
    let mut bytes = bytes::BytesMut::with_capacity(256 * BOOKS as usize);
    group.bench_function("prost_bytes_mut", |b| {
        b.iter(|| {
            bytes.clear();
            for book in &books {
                book.encode(&mut bytes).expect("a BytesMut grows as needed");
            }
            black_box(bytes.len())
        });
    });
    group.bench_function("view_field_by_field_bytes_mut", |b| {
        b.iter(|| {
            bytes.clear();
            for book in &books {
                book.view().encode_raw(&mut bytes);
            }
            black_box(bytes.len())
        });
    });
    group.bench_function("view_bytes_mut", |b| {
        b.iter(|| {
            bytes.clear();
            for book in &books {
                book.view().encode_to(&mut bytes);
            }
            black_box(bytes.len())
        });
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let messages: Vec<Vec<u8>> = catalog::books(3, 0..BOOKS)
        .map(|book| book.encode_to_vec())
        .collect();
    let mut group = c.benchmark_group("decode_book");
    group.throughput(Throughput::Elements(BOOKS));
    group.bench_function("prost", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|bytes| {
                    BookRecommendation::decode(&bytes[..])
                        .expect("valid")
                        .title
                        .len()
                })
                .sum::<usize>()
        });
    });
    group.bench_function("view", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|bytes| BookView::decode(bytes).expect("valid").title.len())
                .sum::<usize>()
        });
    });
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
