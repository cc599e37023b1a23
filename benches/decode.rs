//! Criterion bench: anycastd's decoder over a generated full table (1,000,000 IPv4 + 200,000
//! IPv6 prefixes packed 1–8 per UPDATE as routers pack them, AS paths of 1–8 4-octet ASNs,
//! 0–6 communities; deterministic seed; generated here, not committed), decoding fully: every
//! prefix, ASN and community iterated. `framing_only` (read the length, skip) is the ceiling.
//! The side-by-side run with zettabgp, netgauze-bgp-pkt, bgpkit-parser and routecore lives in
//! `benches/compare/` (a separate package: those crates add 61 dependencies).
//!
//!     cargo bench --bench decode

#[allow(dead_code)]
#[path = "compare/src/corpus.rs"]
mod corpus;

use anycastd::wire::{decode_message, Message, SessionParams};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use std::hint::black_box;
use std::time::Duration;

/// Consumes an iterator, keeping every item alive for the optimiser.
fn count<T>(it: impl Iterator<Item = T>) -> usize {
    it.fold(0, |n, x| {
        black_box(x);
        n + 1
    })
}

/// Decodes every message; returns (messages, prefixes, asns + communities).
fn decode_all(mut b: &[u8]) -> (usize, usize, usize) {
    let p = SessionParams::default();
    let (mut msgs, mut prefixes, mut other) = (0, 0, 0);
    while !b.is_empty() {
        let Ok((m, used)) = decode_message(b, &p) else { break };
        b = &b[used..];
        msgs += 1;
        if let Message::Update(u) = m {
            prefixes += count(u.announced()) + count(u.withdrawn_all());
            other += u.as_path.map(|a| count(a.asns())).unwrap_or(0);
            other += count(u.communities()) + count(u.large_communities());
            black_box((u.origin, u.next_hop, u.med, u.mp_reach.map(|m| m.next_hops())));
        }
    }
    (msgs, prefixes, other)
}

fn framing_only(mut b: &[u8]) -> usize {
    let mut n = 0;
    while let Some(l) = b.get(16..18) {
        let len = usize::from(u16::from_be_bytes([l[0], l[1]])).max(19);
        b = b.get(len..).unwrap_or_default();
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let corpus = corpus::full_table(0x5eed_b6b0, 1_000_000, 200_000);
    let (msgs, prefixes, other) = decode_all(&corpus.bytes);
    assert_eq!(
        (msgs, prefixes),
        (corpus.messages, corpus.v4_prefixes + corpus.v6_prefixes),
        "decoder disagrees with the corpus"
    );
    assert_eq!(other, corpus.expected.asns + corpus.expected.communities);
    let mut g = c.benchmark_group("decode_full_table");
    g.throughput(Throughput::Elements(prefixes as u64));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(6));
    g.bench_function("anycastd", |b| b.iter(|| decode_all(black_box(&corpus.bytes))));
    g.bench_function("framing_only", |b| b.iter(|| framing_only(black_box(&corpus.bytes))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
