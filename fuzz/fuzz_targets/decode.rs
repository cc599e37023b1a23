//! Fuzz target `decode`: arbitrary octets through every decoder entry point, under every
//! combination of session parameters. Beyond "no panic", it checks what can be checked:
//! a message that decodes cleanly re-encodes from its owned form and decodes again to the
//! same owned form (the round trip), and the framer never claims more octets than it was given.
#![no_main]

use anycastd::cli::decode;
use anycastd::wire::{self, Message, SessionParams};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let p = SessionParams {
        four_octet_as: flags & 1 != 0,
        extended_message: flags & 2 != 0,
        add_path_v4: flags & 4 != 0,
        add_path_v6: flags & 8 != 0,
    };
    if let Ok(Some(f)) = wire::frame(rest, p.max_message_len()) {
        assert!(f.len <= rest.len() && f.len >= wire::header::HEADER_LEN);
    }
    // The stream decoder (what `anycastd decode` runs) over the whole input.
    let out = decode::decode_stream(rest, &p);
    assert!(out.failed <= out.lines.len());
    // Bodies behind a valid header, so every message decoder sees the fuzz input.
    let t = 1 + (flags >> 4) % 5;
    let mut m = vec![0xff; 16];
    let len = (19 + rest.len()).min(p.max_message_len());
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(t);
    m.extend_from_slice(&rest[..len - 19]);
    if let Ok((msg, _)) = wire::decode_message(&m, &p) {
        match msg {
            Message::Update(u) if u.treat_as_withdraw.is_none() && u.discarded.is_empty() => {
                let _ = u.effective_as_path();
                let _ = u.effective_withdrawn().count();
                let owned = u.to_owned_msg();
                let mut b = Vec::new();
                if owned.encode(&p, &mut b).is_ok() {
                    let (again, _) = wire::decode_message(&b, &p).expect("re-encoded UPDATE must decode");
                    let Message::Update(u2) = again else { panic!("type changed") };
                    assert_eq!(u2.to_owned_msg(), owned, "UPDATE round trip");
                }
            }
            Message::Open(o) => {
                let mut b = Vec::new();
                if o.encode(&mut b).is_ok() {
                    let (again, _) = wire::decode_message(&b, &p).expect("re-encoded OPEN must decode");
                    let Message::Open(o2) = again else { panic!("type changed") };
                    assert_eq!(o2.capabilities, o.capabilities, "OPEN round trip");
                }
            }
            _ => {}
        }
    }
});
