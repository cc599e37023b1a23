//! Every competitor decoder must report exactly the totals the corpus generator recorded.

use bench::corpus::full_table;
use bench::decoders::{COMPETITORS, SUBJECT, decode_framing_only};

#[test]
fn every_competitor_agrees_with_the_corpus() {
    let c = full_table(0x5eed, 20_000, 4_000);
    assert_eq!((c.v4_prefixes, c.v6_prefixes), (20_000, 4_000));
    let mut failures = Vec::new();
    for (name, decode) in COMPETITORS {
        match decode(&c.bytes) {
            Ok(got) if got == c.expected => {}
            Ok(got) => failures.push(format!("{name}: got {got:?}, expected {:?}", c.expected)),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn anycastd_agrees_with_the_corpus() {
    let c = full_table(0x5eed, 20_000, 4_000);
    let (_, decode) = SUBJECT;
    assert_eq!(decode(&c.bytes), Ok(c.expected));
}

#[test]
fn framing_only_counts_messages() {
    let c = full_table(9, 2_000, 500);
    assert_eq!(decode_framing_only(&c.bytes).unwrap().messages, c.messages);
}

#[test]
fn decoders_report_corrupted_input_instead_of_agreeing() {
    let c = full_table(11, 500, 100);
    let mut bad = c.bytes.clone();
    bad.truncate(bad.len() - 3); // last message truncated
    for (name, decode) in COMPETITORS.iter().chain([&SUBJECT]) {
        match decode(&bad) {
            Err(_) => {}
            Ok(got) => assert_ne!(got, c.expected, "{name} accepted a truncated stream"),
        }
    }
    assert!(decode_framing_only(&bad).is_err());
}
