//! Criterion throughput benchmark: every decoder over one synthetic full table
//! (1,000,000 IPv4 + 200,000 IPv6 prefixes), reported as prefixes per second.
//! Each iteration decodes the whole table, so sampling is flat with 10 samples.

use std::hint::black_box;
use std::time::Duration;

use bench::corpus::full_table;
use bench::decoders::{COMPETITORS, Decoder, SUBJECT, decode_framing_only};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const SEED: u64 = 0x5eed_b6b0;

fn decode_full_table(c: &mut Criterion) {
    let corpus = full_table(SEED, 1_000_000, 200_000);
    let mut g = c.benchmark_group("decode_full_table");
    g.throughput(Throughput::Elements(
        (corpus.v4_prefixes + corpus.v6_prefixes) as u64,
    ));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));

    let all: Vec<(&str, Decoder)> = [("framing_only", decode_framing_only as Decoder), SUBJECT]
        .into_iter()
        .chain(COMPETITORS.iter().copied())
        .collect();
    for (name, decode) in all {
        // Check once outside the timed loop: a decoder that disagrees is not benchmarked.
        match decode(&corpus.bytes) {
            Ok(got) if name == "framing_only" || got == corpus.expected => {}
            Ok(got) => {
                eprintln!(
                    "skipping {name}: totals {got:?} != expected {:?}",
                    corpus.expected
                );
                continue;
            }
            Err(e) => {
                eprintln!("skipping {name}: {e}");
                continue;
            }
        }
        g.bench_function(name, |b| b.iter(|| decode(black_box(&corpus.bytes))));
    }
    g.finish();
}

criterion_group!(benches, decode_full_table);
criterion_main!(benches);
