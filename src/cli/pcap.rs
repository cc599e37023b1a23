//! `anycastd decode --pcap FILE`: the BGP messages of a capture, one JSON object per message as
//! `decode` prints them, in capture order, each with the frame that completed it, its
//! direction (`src`, `dst`) and its offset in that direction's stream.
//!
//! The capture is read by [`crate::capture`] (the reader of `md5 verify`); each direction of
//! each TCP connection to or from the BGP port is reassembled by sequence number: out-of-order
//! segments wait for the gap before them (bounded), retransmitted octets are taken once, and a
//! SYN starts a new stream. What the capture lacks (segments never captured, a payload cut by
//! the snaplen, a capture that starts inside a session) is said, never guessed at: decoding
//! goes on at the next BGP marker. Pure: bytes in, lines out; no panics on any input.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::decode::{error_json, message_json};
use crate::capture::{self, CaptureError};
use crate::wire::header::{self, HEADER_LEN, MARKER};
use crate::wire::{self, Message, SessionParams};
use etherparse::{IpNumber, TransportSlice};
use pcap_file::DataLink;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// Octets of out-of-order segments one stream may hold while waiting for a gap to fill; past
/// it the gap is declared (segments missing from the capture).
pub const MAX_PENDING: usize = 4 << 20;

/// What `decode --pcap` found.
#[derive(Debug, Default)]
pub struct PcapDecoded {
    /// One JSON object per message (or per error), in capture order.
    pub lines: Vec<Value>,
    /// Messages that failed to decode (as `decode` counts them).
    pub failed: usize,
    /// Directions of TCP connections with the BGP port seen.
    pub streams: usize,
    pub packets: u64,
    /// What the capture lacks, one sentence each (printed on stderr).
    pub notes: Vec<String>,
}

/// `decode --pcap FILE`: reads the file, decodes it, prints the lines (stdout) and the notes
/// (stderr). Exit status: 0 every message decoded, 1 a message failed or no BGP message was
/// found, 2 the file cannot be read or is not a capture.
pub fn run(path: &std::path::Path, p: &SessionParams, port: u16) -> super::Outcome {
    match std::fs::read(path) {
        Ok(data) => report(&data, p, port, path),
        Err(e) => super::Outcome::err(2, format!("decode: cannot read {}: {e}", path.display())),
    }
}

/// [`run`] on a capture already read (`path` names it in messages).
pub fn report(data: &[u8], p: &SessionParams, port: u16, path: &std::path::Path) -> super::Outcome {
    let d = match decode_pcap(data, p, port) {
        Ok(d) => d,
        Err(e) => return super::Outcome::err(2, format!("decode: {}: {e}", path.display())),
    };
    let mut stdout = String::new();
    for v in &d.lines {
        stdout.push_str(&v.to_string());
        stdout.push('\n');
    }
    let mut stderr: String = d.notes.iter().map(|n| format!("anycastd decode: {n}\n")).collect();
    let mut code = u8::from(d.failed > 0);
    if d.lines.is_empty() {
        code = 1;
        stderr.push_str(&format!(
            "anycastd decode: no BGP message in {} packets ({} TCP streams with port {port}): is the session on another port (--port)?\n",
            d.packets, d.streams
        ));
    }
    super::Outcome { stdout, stderr, code }
}

/// One direction of one TCP connection.
#[derive(Default)]
struct Stream {
    /// Sequence number of stream octet 0 (the SYN's + 1, or the first segment's seen).
    base: Option<u32>,
    /// Offset (from `base`) of the next octet expected.
    next: u32,
    /// Octets received in order and not yet framed; `buf[0]` is at stream offset `at`.
    buf: Vec<u8>,
    at: u64,
    /// Out-of-order segments by offset, with the frame that carried them.
    pending: BTreeMap<u32, (u64, Vec<u8>)>,
    pending_len: usize,
    /// False until a BGP marker is found (a capture that starts inside the stream, a gap).
    synced: bool,
}

struct Ctx<'p> {
    p: &'p SessionParams,
    out: PcapDecoded,
}

/// Decodes every BGP message of the capture in `data`; `port` is the BGP port (179).
///
/// # Errors
/// Input that is not a capture, or a capture damaged before its last record, or a link type
/// the reader does not know.
pub fn decode_pcap(data: &[u8], p: &SessionParams, port: u16) -> Result<PcapDecoded, CaptureError> {
    let mut streams: HashMap<(SocketAddr, SocketAddr), Stream> = HashMap::new();
    let mut order: Vec<(SocketAddr, SocketAddr)> = Vec::new();
    let mut cx = Ctx { p, out: PcapDecoded::default() };
    let walked = capture::walk(data, |link, frame| {
        cx.out.packets = cx.out.packets.saturating_add(1);
        let Some(seg) = tcp_segment(link, cx.out.packets, frame)? else { return Ok::<(), CaptureError>(()) };
        if seg.src.port() != port && seg.dst.port() != port {
            return Ok(());
        }
        let key = (seg.src, seg.dst);
        let s = streams.entry(key).or_insert_with(|| {
            order.push(key);
            Stream::default()
        });
        cx.segment(s, key, &seg);
        Ok(())
    })?;
    for key in &order {
        if let Some(s) = streams.get_mut(key) {
            cx.finish(s, *key);
        }
    }
    if walked.truncated {
        cx.out.notes.push("the capture file ends inside a record: the rest was ignored".into());
    }
    cx.out.streams = order.len();
    Ok(cx.out)
}

/// One captured TCP segment.
struct Segment<'a> {
    frame: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    syn: bool,
    fin: bool,
    /// The snaplen cut the payload: its octets are not all there.
    cut: bool,
    payload: &'a [u8],
}

fn tcp_segment(link: DataLink, frame: u64, data: &[u8]) -> Result<Option<Segment<'_>>, CaptureError> {
    let Some(sliced) = capture::slice_frame(link, frame, data)? else { return Ok(None) };
    let Some((src, dst, ip_payload)) = sliced.net.as_ref().and_then(capture::ip_parts) else { return Ok(None) };
    if ip_payload.ip_number != IpNumber::TCP {
        return Ok(None);
    }
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else { return Ok(None) };
    Ok(Some(Segment {
        frame,
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        fin: tcp.fin(),
        cut: ip_payload.incomplete,
        payload: tcp.payload(),
    }))
}

fn direction(key: (SocketAddr, SocketAddr)) -> String {
    format!("{} -> {}", key.0, key.1)
}

impl Ctx<'_> {
    fn segment(&mut self, s: &mut Stream, key: (SocketAddr, SocketAddr), seg: &Segment<'_>) {
        if seg.syn {
            // A new connection in this direction: whatever the old one left is over.
            if s.base.is_some() {
                self.finish(s, key);
            }
            *s = Stream { base: Some(seg.seq.wrapping_add(1)), synced: true, ..Stream::default() };
            return;
        }
        if seg.payload.is_empty() {
            if seg.fin {
                self.declare_gap(s, key);
            }
            return;
        }
        if seg.cut {
            // Left out: the gap it leaves is said when the stream goes on past it.
            return;
        }
        let base = *s.base.get_or_insert(seg.seq);
        let off = seg.seq.wrapping_sub(base);
        self.take(s, key, seg.frame, off, seg.payload);
        if seg.fin {
            self.declare_gap(s, key);
        }
    }

    /// Octets at stream offset `off`: appended when they are next (the part not seen yet),
    /// held when a gap comes before them, dropped when all were seen.
    fn take(&mut self, s: &mut Stream, key: (SocketAddr, SocketAddr), frame: u64, off: u32, data: &[u8]) {
        let ahead = off.wrapping_sub(s.next);
        // Within 2 GiB ahead: later octets; otherwise earlier ones (a retransmission).
        if ahead != 0 && ahead < 1 << 31 {
            if s.pending_len.saturating_add(data.len()) > MAX_PENDING {
                self.declare_gap(s, key);
                self.take(s, key, frame, off, data);
                return;
            }
            s.pending_len = s.pending_len.saturating_add(data.len());
            if let Some((_, old)) = s.pending.insert(off, (frame, data.to_vec())) {
                s.pending_len = s.pending_len.saturating_sub(old.len());
            }
            return;
        }
        let seen = usize::try_from(s.next.wrapping_sub(off)).unwrap_or(usize::MAX);
        let Some(new) = data.get(seen..).filter(|n| !n.is_empty()) else { return };
        s.buf.extend_from_slice(new);
        s.next = s.next.wrapping_add(u32::try_from(new.len()).unwrap_or(u32::MAX));
        self.frame_messages(s, key, frame);
        // Held segments that are next now.
        while let Some((&o, _)) = s.pending.first_key_value() {
            if o.wrapping_sub(s.next) < 1 << 31 && o != s.next {
                break;
            }
            // Completed now: the messages are this frame's, as a reassembling dissector shows.
            let Some((o, (_, d))) = s.pending.pop_first() else { break };
            s.pending_len = s.pending_len.saturating_sub(d.len());
            self.take(s, key, frame, o, &d);
        }
    }

    /// Segments are missing before the held ones (or at the end): said, and decoding goes on
    /// at the next marker after the gap.
    fn declare_gap(&mut self, s: &mut Stream, key: (SocketAddr, SocketAddr)) {
        let Some((&o, _)) = s.pending.first_key_value() else { return };
        let lost = o.wrapping_sub(s.next);
        self.out.notes.push(format!(
            "{}: {lost} octets at stream offset {} are missing from the capture: decoding goes on at the next BGP marker",
            direction(key),
            s.at.saturating_add(s.buf.len() as u64)
        ));
        s.at = s.at.saturating_add(s.buf.len() as u64).saturating_add(u64::from(lost));
        s.buf.clear();
        s.next = o;
        s.synced = false;
        let held = std::mem::take(&mut s.pending);
        s.pending_len = 0;
        for (o, (f, d)) in held {
            self.take(s, key, f, o, &d);
        }
    }

    /// Drops octets before the first BGP marker when not in sync; true when in sync.
    fn sync(&mut self, s: &mut Stream, key: (SocketAddr, SocketAddr)) -> bool {
        if s.synced {
            return true;
        }
        let found = s.buf.windows(MARKER.len()).position(|w| w == MARKER);
        // Keep a tail that may be the start of a marker.
        let skip = found.unwrap_or_else(|| s.buf.len().saturating_sub(MARKER.len() - 1));
        if skip > 0 {
            self.out.notes.push(format!(
                "{}: {skip} octets at stream offset {} before a BGP marker skipped (the capture starts inside the stream, or after a gap)",
                direction(key),
                s.at
            ));
            s.buf.drain(..skip);
            s.at = s.at.saturating_add(skip as u64);
        }
        s.synced = found.is_some();
        s.synced
    }

    /// Decodes every whole message at the start of the stream's buffer (what is left is the
    /// start of a message still to come).
    fn frame_messages(&mut self, s: &mut Stream, key: (SocketAddr, SocketAddr), frame: u64) {
        let mut pos = 0usize;
        loop {
            if !s.synced {
                s.buf.drain(..pos.min(s.buf.len()));
                s.at = s.at.saturating_add(pos as u64);
                pos = 0;
                if !self.sync(s, key) {
                    return;
                }
            }
            let rest = s.buf.get(pos..).unwrap_or_default();
            let at = s.at.saturating_add(pos as u64);
            let step = match wire::frame(rest, self.p.max_message_len()) {
                Ok(Some(f)) => {
                    let whole = rest.get(..f.len).unwrap_or(rest);
                    let r = wire::decode_frame(f, whole, self.p);
                    let failed = match &r {
                        Ok(Message::Update(u)) => u.treat_as_withdraw.is_some(),
                        Ok(_) => false,
                        Err(_) => true,
                    };
                    let v = match &r {
                        Ok(m) => message_json(m),
                        Err(e) => error_json(e),
                    };
                    self.push(v, failed, key, frame, at);
                    f.len
                }
                Ok(None) => break,
                Err(e) => {
                    self.push(error_json(&e), true, key, frame, at);
                    // Resynchronise on the length field when it is plausible, else on the
                    // next marker.
                    match header::declared_len(rest).filter(|l| (HEADER_LEN..=rest.len()).contains(l)) {
                        Some(len) => len,
                        None => {
                            s.synced = false;
                            1
                        }
                    }
                }
            };
            pos = pos.saturating_add(step);
        }
        s.buf.drain(..pos.min(s.buf.len()));
        s.at = s.at.saturating_add(pos as u64);
    }

    fn push(&mut self, mut v: Value, failed: bool, key: (SocketAddr, SocketAddr), frame: u64, at: u64) {
        if failed {
            self.out.failed = self.out.failed.saturating_add(1);
        }
        if let Some(o) = v.as_object_mut() {
            o.insert("frame".into(), json!(frame));
            o.insert("src".into(), json!(key.0.to_string()));
            o.insert("dst".into(), json!(key.1.to_string()));
            o.insert("offset".into(), json!(at));
        }
        self.out.lines.push(v);
    }

    /// The end of a stream: held segments behind a gap, then a message cut at the end.
    fn finish(&mut self, s: &mut Stream, key: (SocketAddr, SocketAddr)) {
        self.declare_gap(s, key);
        if s.synced && !s.buf.is_empty() {
            self.out.notes.push(format!(
                "{}: the capture ends inside a message: {} octets at stream offset {} not decoded",
                direction(key),
                s.buf.len(),
                s.at
            ));
        }
        s.buf.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const A: [u8; 4] = [192, 0, 2, 11];
    const B: [u8; 4] = [192, 0, 2, 1];

    fn keepalive() -> Vec<u8> {
        let mut b = bytes::BytesMut::new();
        crate::wire::encode_keepalive(&mut b);
        b.to_vec()
    }

    /// A NOTIFICATION Cease / Administrative Reset with a shutdown communication.
    fn cease(text: &str) -> Vec<u8> {
        let mut b = bytes::BytesMut::new();
        crate::wire::Notification::cease_with_message(4, text).encode(&mut b);
        b.to_vec()
    }

    /// One IPv4/TCP packet (link type RAW) from `src` port 40000 to `dst` port 179, or back
    /// when `back`.
    fn packet(back: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (src, dst, sp, dp) = if back { (B, A, 179u16, 40000u16) } else { (A, B, 40000, 179) };
        let total = 20 + 20 + payload.len();
        let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 6, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sp.to_be_bytes());
        p.extend_from_slice(&dp.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    /// A pcap (link type RAW) of these packets.
    fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101, 0, 0, 0];
        for (i, p) in packets.iter().enumerate() {
            f.extend_from_slice(&(i as u32).to_le_bytes());
            f.extend_from_slice(&[0; 4]);
            f.extend_from_slice(&(p.len() as u32).to_le_bytes());
            f.extend_from_slice(&(p.len() as u32).to_le_bytes());
            f.extend_from_slice(p);
        }
        f
    }

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x18;
    const FIN: u8 = 0x11;

    fn types(d: &PcapDecoded) -> Vec<String> {
        d.lines.iter().map(|v| v["type"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn messages_split_reordered_and_retransmitted_come_out_once_in_order() {
        let ka = keepalive();
        let n = cease("bye");
        let mut stream = ka.clone();
        stream.extend_from_slice(&n);
        stream.extend_from_slice(&ka);
        // Cut the stream in three segments (inside the NOTIFICATION), sent 1, 3, 2, 2 again.
        let (s1, rest) = stream.split_at(25);
        let (s2, s3) = rest.split_at(10);
        let isn = 0xffff_fff0u32; // the sequence numbers wrap inside the stream
        let o = |n: usize| isn.wrapping_add(1).wrapping_add(n as u32);
        let packets = [
            packet(false, isn, SYN, &[]),
            packet(false, o(0), PSH, s1),
            packet(false, o(35), PSH, s3),
            packet(true, 7, PSH, &ka), // the other direction, without a SYN
            packet(false, o(25), PSH, s2),
            packet(false, o(20), PSH, &stream[20..30]), // a retransmission
            packet(false, o(stream.len()), FIN, &[]),
        ];
        let d = decode_pcap(&pcap(&packets), &SessionParams::default(), 179).unwrap();
        assert_eq!(types(&d), ["KEEPALIVE", "KEEPALIVE", "NOTIFICATION", "KEEPALIVE"], "{:?}", d.lines);
        assert_eq!(d.failed, 0);
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        assert_eq!(d.streams, 2);
        let first = &d.lines[0];
        assert_eq!((first["frame"].as_u64(), first["offset"].as_u64()), (Some(2), Some(0)));
        assert_eq!(first["src"], "192.0.2.11:40000");
        assert_eq!(d.lines[1]["src"], "192.0.2.1:179");
        // The NOTIFICATION completed with the fifth frame (the segment that filled the gap).
        let notif = &d.lines[2];
        assert_eq!((notif["frame"].as_u64(), notif["offset"].as_u64()), (Some(5), Some(19)));
        assert_eq!(notif["shutdown_communication"], "bye");
        assert_eq!(d.lines[3]["offset"].as_u64(), Some(19 + n.len() as u64));
    }

    #[test]
    fn a_missing_segment_is_said_and_decoding_goes_on_at_the_next_marker() {
        let ka = keepalive();
        let n = cease("lost");
        let packets = [
            packet(false, 99, SYN, &[]),
            packet(false, 100, PSH, &ka),
            // Octets 19..29 (the start of the NOTIFICATION) were never captured.
            packet(false, 100 + 29, PSH, &n[10..]),
            packet(false, 100 + 19 + n.len() as u32, PSH, &ka),
        ];
        let d = decode_pcap(&pcap(&packets), &SessionParams::default(), 179).unwrap();
        assert_eq!(types(&d), ["KEEPALIVE", "KEEPALIVE"], "{:?}", d.lines);
        assert_eq!(d.lines[1]["offset"].as_u64(), Some(19 + n.len() as u64));
        assert!(d.notes.iter().any(|n| n.contains("10 octets at stream offset 19 are missing")), "{:?}", d.notes);
        assert!(d.notes.iter().any(|n| n.contains("before a BGP marker skipped")), "{:?}", d.notes);
    }

    #[test]
    fn a_capture_that_starts_inside_a_session_begins_at_the_first_marker() {
        let ka = keepalive();
        let mut junk = vec![0xab; 7];
        junk.extend_from_slice(&ka);
        junk.extend_from_slice(&ka[..5]);
        let d = decode_pcap(&pcap(&[packet(true, 5000, PSH, &junk)]), &SessionParams::default(), 179).unwrap();
        assert_eq!(types(&d), ["KEEPALIVE"]);
        assert_eq!(d.lines[0]["offset"].as_u64(), Some(7));
        assert!(d.notes.iter().any(|n| n.contains("7 octets at stream offset 0 before a BGP marker")), "{:?}", d.notes);
        assert!(d.notes.iter().any(|n| n.contains("ends inside a message: 5 octets")), "{:?}", d.notes);
        // Another port: nothing of it is BGP here.
        let d = decode_pcap(&pcap(&[packet(true, 5000, PSH, &junk)]), &SessionParams::default(), 1790).unwrap();
        assert!(d.lines.is_empty() && d.streams == 0);
    }

    #[test]
    fn a_bad_message_is_an_error_line_and_the_next_one_decodes() {
        let ka = keepalive();
        let mut bad = ka.clone();
        bad[18] = 9; // an unknown message type
        let mut data = bad;
        data.extend_from_slice(&ka);
        let d = decode_pcap(
            &pcap(&[packet(false, 1, SYN, &[]), packet(false, 2, ACK, &data)]),
            &SessionParams::default(),
            179,
        )
        .unwrap();
        assert_eq!(types(&d), ["ERROR", "KEEPALIVE"], "{:?}", d.lines);
        assert_eq!(d.failed, 1);
        assert_eq!(d.lines[1]["offset"].as_u64(), Some(19));
    }

    #[test]
    fn not_a_capture_and_a_damaged_one_are_errors_not_panics() {
        assert!(matches!(decode_pcap(b"BGP!", &SessionParams::default(), 179), Err(CaptureError::NotACapture { .. })));
        let whole = pcap(&[packet(false, 1, SYN, &[]), packet(false, 2, PSH, &keepalive())]);
        for cut in 0..whole.len() {
            let _ = decode_pcap(&whole[..cut], &SessionParams::default(), 179);
        }
        let d = decode_pcap(&whole[..whole.len() - 3], &SessionParams::default(), 179).unwrap();
        assert!(d.notes.iter().any(|n| n.contains("ends inside a record")), "{:?}", d.notes);
    }
}
