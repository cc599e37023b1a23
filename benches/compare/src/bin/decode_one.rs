//! One decoder over one small generated table, for instruction counts (callgrind) rather
//! than wall time: `decode_one [--decoder NAME] [--v4 N] [--v6 N] [--runs N]`, defaults
//! anycastd, 20,000 + 4,000 prefixes, 1 run. Count only the decode, not the corpus build:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='bench::decoders::*::decode_*' \
//!     target/release/decode_one
//! ```
//!
//! Exits non-zero when the decoder's totals differ from the corpus's.

use std::process::ExitCode;

use bench::corpus::full_table;
use bench::decoders::{COMPETITORS, Decoder, SUBJECT};

fn main() -> ExitCode {
    let (mut name, mut v4, mut v6, mut runs) =
        ("anycastd".to_string(), 20_000usize, 4_000usize, 1usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(val) = it.next() else {
            eprintln!("decode_one: {flag} needs a value");
            return ExitCode::from(2);
        };
        let num = || {
            val.parse::<usize>()
                .map_err(|_| format!("{flag}: '{val}' is not a number"))
        };
        let r = match flag.as_str() {
            "--decoder" => {
                name = val.clone();
                Ok(())
            }
            "--v4" => num().map(|n| v4 = n),
            "--v6" => num().map(|n| v6 = n),
            "--runs" => num().map(|n| runs = n.clamp(1, 100)),
            _ => Err(format!(
                "unknown option {flag}; known: --decoder --v4 --v6 --runs"
            )),
        };
        if let Err(e) = r {
            eprintln!("decode_one: {e}");
            return ExitCode::from(2);
        }
    }
    let Some(&(_, decode)) = [&SUBJECT]
        .into_iter()
        .chain(COMPETITORS)
        .find(|(n, _)| *n == name)
    else {
        eprintln!("decode_one: no decoder named {name}");
        return ExitCode::from(2);
    };
    let decode: Decoder = decode;
    let corpus = full_table(0x5eed, v4, v6);
    for _ in 0..runs {
        match decode(std::hint::black_box(&corpus.bytes)) {
            Ok(got) if got == corpus.expected => {}
            Ok(got) => {
                eprintln!(
                    "{name}: WRONG totals {got:?}, expected {:?}",
                    corpus.expected
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("{name}: FAILED: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{name}: {} messages, {v4} + {v6} prefixes, {runs} run(s): totals agree",
        corpus.messages
    );
    ExitCode::SUCCESS
}
