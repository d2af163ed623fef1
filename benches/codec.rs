//! What one answer costs to encode and decode: prost (the gRPC body) against
//! serde_json (the REST body), for 1, 1,000 and 100,000 books. Read the
//! results as books/s; the byte sizes are printed once per size.

use std::hint::black_box;

use bookstream::{BookRecommendation, BookRecommendations, catalog};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;

const SIZES: [u64; 3] = [1, 1_000, 100_000];

fn answer(count: u64) -> BookRecommendations {
    BookRecommendations {
        books: catalog::books(0, 0..count).collect(),
    }
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for count in SIZES {
        let answer = answer(count);
        let protobuf = answer.encode_to_vec().len();
        let json = serde_json::to_vec(&answer.books).map_or(0, |json| json.len());
        println!("{count} books: protobuf {protobuf} bytes, JSON {json} bytes");
        group.throughput(Throughput::Elements(count));
        // Buffers are reused, as a server reuses them, so the codec is measured and not the allocator.
        let mut buffer = Vec::with_capacity(json.max(protobuf));
        group.bench_with_input(BenchmarkId::new("prost", count), &answer, |b, answer| {
            b.iter(|| {
                buffer.clear();
                answer
                    .encode(&mut buffer)
                    .expect("the buffer grows as needed");
                black_box(buffer.len())
            });
        });
        group.bench_with_input(
            BenchmarkId::new("serde_json", count),
            &answer,
            |b, answer| {
                b.iter(|| {
                    buffer.clear();
                    serde_json::to_writer(&mut buffer, &answer.books).expect("books serialise");
                    black_box(buffer.len())
                });
            },
        );
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for count in SIZES {
        let answer = answer(count);
        let protobuf = answer.encode_to_vec();
        let json = serde_json::to_vec(&answer.books).expect("books serialise");
        group.throughput(Throughput::Elements(count));
        group.bench_with_input(BenchmarkId::new("prost", count), &protobuf, |b, bytes| {
            b.iter(|| {
                BookRecommendations::decode(black_box(bytes.as_slice())).expect("valid protobuf")
            });
        });
        group.bench_with_input(BenchmarkId::new("serde_json", count), &json, |b, bytes| {
            b.iter(|| {
                serde_json::from_slice::<Vec<BookRecommendation>>(black_box(bytes))
                    .expect("valid JSON")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
