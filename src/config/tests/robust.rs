//! No input panics: every truncation of the full example and a bounded number of seeded
//! random mutations go through `Config::from_str` and `apply_bgp_set`, and every error they
//! produce carries a line:column inside the text.

use super::*;
use crate::config::edit::{apply_bgp_set, BgpSet};

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

/// Parses `text`; checks that every diagnostic points inside it.
fn check(text: &str) {
    let lines = text.lines().count().saturating_add(1);
    let diags = match parse(text) {
        Ok(c) => c.warnings,
        Err(e) => e.diagnostics().to_vec(),
    };
    for d in diags {
        assert!(d.line >= 1 && d.line <= lines && d.column >= 1, "{d} outside {lines} lines of {text:?}");
    }
}

#[test]
fn every_truncation_of_the_full_example() {
    let mut cut = 0;
    while cut <= FULL.len() {
        if let Some(prefix) = FULL.get(..cut) {
            check(prefix);
        }
        cut = cut.saturating_add(3);
    }
}

const ALPHABET: &[u8] = b"[]{}=\"'.,#\n \t0123456789abcxyz:-_/\\";

/// `base` with one to four random byte insertions, removals or replacements.
fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut bytes = base.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len());
        let c = ALPHABET.get(rng.below(ALPHABET.len())).copied().unwrap_or(b' ');
        match rng.below(4) {
            0 => bytes.insert(at, c),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, 0xff),
            _ => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = c;
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn seeded_random_mutations() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let set = BgpSet {
        local_as: Asn::new(65124).ok(),
        remote_ip: vec!["192.0.2.9".parse().expect("ip")],
        ..BgpSet::default()
    };
    for round in 0..1500 {
        let text = mutate(&mut rng, FULL);
        check(&text);
        if round % 10 == 0 {
            let _ = apply_bgp_set(Some(&text), &set, Path::new(FILE));
        }
    }
}

#[test]
fn seeded_random_mutations_of_bfd_tables() {
    let base = MINIMAL.replacen(
        "remote_as = 65000\n",
        "remote_as = 65000\nbfd = { interval_ms = 50, multiplier = 3, auth = \"keyed-sha1\", key_id = 2, key = \"k\" }\n\n\
         [[bgp.neighbor]]\nremote_ip = \"192.0.2.2\"\nremote_as = 65000\n[bgp.neighbor.bfd]\nstrict = false\n\
         auth = \"simple\"\nkey_file = \"/nonexistent/bfd.key\"\n",
        1,
    );
    let mut rng = Rng(0x5eed_1234_abcd_0bfd);
    let set = BgpSet { bfd_interval_ms: Some(100), bfd_multiplier: NonZeroU8::new(5), ..BgpSet::default() };
    for _ in 0..600 {
        let text = mutate(&mut rng, &base);
        check(&text);
        let _ = apply_bgp_set(Some(&text), &set, Path::new(FILE));
    }
}

#[test]
fn hostile_snippets() {
    let snippets = [
        "",
        "\u{feff}",
        "[[bgp]]\n",
        "bgp = 1\n",
        "bgp.neighbor = 1\n",
        "[bgp]\nneighbor = [{remote_ip = \"192.0.2.1\", remote_as = 1, bogus = 2}]\n",
        "[bgp]\nlocal_as = 99999999999999999999\n",
        "[bgp]\nlocal_as = 1.0e400\n",
        "a.b.c.d.e.f = 1\n",
        "[health]\ncheck = 3\n",
        "[[health.check]]\nname = \"\"\ntype = \"\"\n",
        "[anycast]\nprefixes = [\"::/0\", \"0.0.0.0/0\", \"1.2.3.4/99\", \"\u{1F600}\"]\n",
        "[\"bgp\"]\n\"local_as\" = 1\n",
        "[bgp]\nlocal_as = 65124\n[bgp.neighbor]\n",
        "[bgp]\n[[bgp.neighbor]]\nbfd = { bfd = { bfd = {} } }\n[bgp.neighbor.bfd.x]\n",
        "[bgp]\n[[bgp.neighbor]]\nbfd = { interval_ms = -9223372036854775808, key_id = 9223372036854775807 }\n",
        "[bgp]\n[[bgp.neighbor]]\nbfd = { auth = \"\", key = \"\u{1F600}\", key_file = \"\" }\n",
    ];
    for s in snippets {
        check(s);
        let _ = apply_bgp_set(Some(s), &BgpSet::default(), Path::new(FILE));
    }
}
