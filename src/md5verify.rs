//! TCP-MD5 signature checker for captured BGP traffic: the pure core of
//! `anycastd md5 verify --pcap FILE --key KEY`.
//!
//! Owns: decoding the IP and TCP layers of a capture held in memory (read by
//! [`crate::capture`]), recomputing every signed segment's RFC 2385 digest with the operator's key and
//! tallying the verdicts per flow direction (`src ip:port -> dst ip:port`) into a [`Report`]
//! that prints as an operator table (`Display`) or serialises for `--json`.
//!
//! Must not: open files, touch sockets or the terminal (the CLI reads the file and prints
//! the report), nor panic on any input: every byte comes from a file an operator handed us.
//!
//! Link types: those of [`crate::capture`].
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, TransportSlice};
use md5::{Digest, Md5};
use pcap_file::DataLink;
use serde::Serialize;

pub use crate::capture::CaptureError;
use crate::capture::{link_name, slice_frame};
use crate::wire::hex;

/// Longest key Linux accepts in `struct tcp_md5sig` (`TCP_MD5SIG_MAXKEYLEN`).
pub const TCP_MD5SIG_MAXKEYLEN: usize = crate::types::Md5Key::MAX_LEN;
/// RFC 2385 §3.0: option kind 19, length 18 (kind, length, 16-byte digest).
const TCPOPT_MD5SIG: u8 = 19;
const TCPOLEN_MD5SIG: u8 = 18;
/// Fixed TCP header length (RFC 9293 §3.1); the digest covers only these bytes of the header.
const TCP_FIXED_HEADER_LEN: usize = 20;
const BGP_PORT: u16 = 179;

/// Why a capture could not be checked at all (per-packet problems are counted, not errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Md5VerifyError {
    /// An empty key would mean "no TCP-MD5" to the kernel.
    #[error("TCP-MD5 key is empty: pass the session password configured on the peers with --key")]
    EmptyKey,
    /// Longer than any peer can configure.
    #[error(
        "TCP-MD5 key is {len} bytes, longer than the {TCP_MD5SIG_MAXKEYLEN}-byte limit \
         (TCP_MD5SIG_MAXKEYLEN), so no Linux peer can use it: check --key"
    )]
    KeyTooLong { len: usize },
    /// The capture itself cannot be read ([`CaptureError`]).
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// The outcome for one TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No TCP-MD5 option.
    Unsigned,
    /// Digest matches the key.
    Valid,
    /// Digest does not match the key.
    Invalid,
    /// Signed, but the capture holds only part of the segment (snaplen), so not verifiable.
    Truncated,
    /// An option of kind 19 whose length is not 18.
    BadOption,
}

/// One TCP segment (`src` sent it to `dst`) and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentVerdict {
    /// 1-based frame number in the capture.
    pub frame: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// TCP flags, e.g. `SYN,ACK`.
    pub flags: String,
    pub seq: u32,
    /// Bytes of TCP data captured.
    pub payload_len: usize,
    pub verdict: Verdict,
    /// Digest carried in the option (lower-case hex), when there is one.
    pub digest_in_packet: Option<String>,
    /// Digest computed with the key (lower-case hex), when the segment is verifiable.
    pub digest_expected: Option<String>,
}

/// Segment counts by verdict; `signed = valid + invalid + truncated + bad_option`.
/// `truncated`: cut short by the snaplen (signature seen, or the TCP header itself cut, like
/// tcpdump's "snaplen too short"), so not verifiable; `bad_option`: kind 19 with length != 18.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub segments: u64,
    pub signed: u64,
    pub valid: u64,
    pub invalid: u64,
    pub unsigned: u64,
    pub truncated: u64,
    pub bad_option: u64,
}

impl Counts {
    /// The counts in [`COLUMNS`] order.
    fn row(&self) -> [u64; 7] {
        let c = self;
        [c.segments, c.signed, c.valid, c.invalid, c.unsigned, c.truncated, c.bad_option]
    }

    fn add(&mut self, verdict: Verdict) {
        bump(&mut self.segments);
        if verdict != Verdict::Unsigned {
            bump(&mut self.signed);
        }
        bump(match verdict {
            Verdict::Unsigned => &mut self.unsigned,
            Verdict::Valid => &mut self.valid,
            Verdict::Invalid => &mut self.invalid,
            Verdict::Truncated => &mut self.truncated,
            Verdict::BadOption => &mut self.bad_option,
        });
    }
}

/// Tallies for one direction (`src` sends to `dst`) of one TCP connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowReport {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    #[serde(flatten)]
    pub counts: Counts,
    /// First frame whose digest did not match the key, and its TCP flags.
    pub first_invalid_frame: Option<u64>,
    pub first_invalid_flags: Option<String>,
}

/// Everything `md5 verify` found in one capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `pcap` or `pcapng`.
    pub format: &'static str,
    /// Link types met, in order of first use (e.g. `ETHERNET (1)`).
    pub link_types: Vec<String>,
    /// Packet records read (frames are numbered from 1 in this order).
    pub packets_total: u64,
    /// Packets that are not IP/TCP (ARP, UDP, ...).
    pub packets_skipped_non_tcp: u64,
    /// Packets whose link, IP or TCP header could not be decoded, or IP fragments.
    pub packets_undecodable: u64,
    /// The file ends inside a record (e.g. tcpdump was killed): the rest was ignored.
    pub capture_truncated: bool,
    /// Sum over all flows.
    pub totals: Counts,
    /// Per direction, in order of first appearance.
    pub flows: Vec<FlowReport>,
    /// Every TCP segment, in capture order.
    pub segments: Vec<SegmentVerdict>,
    /// True when at least one signed segment verified and none failed or had a bad option.
    pub passed: bool,
    /// One operator-facing line summarising the outcome.
    pub verdict: String,
}

/// Computes the RFC 2385 §2.0 digest of one TCP segment.
///
/// `segment` is the whole TCP segment as carried by IP: header with options, then data. The
/// digest covers, in order: the pseudo-header (IPv4: src, dst, zero, protocol 6, segment
/// length as u16; IPv6, RFC 2460 §8.1: src, dst, segment length as u32, three zero bytes,
/// next header 6), the 20-byte TCP header without options and with the checksum zeroed, the
/// segment data and the key.
///
/// Returns `None` when `src` and `dst` are of different families, the data offset is below 5
/// or beyond the segment, or the length does not fit the pseudo-header.
pub fn segment_digest(src: IpAddr, dst: IpAddr, segment: &[u8], key: &[u8]) -> Option<[u8; 16]> {
    let data_offset = usize::from(segment.get(12)? >> 4);
    let header_len = data_offset.checked_mul(4)?;
    if header_len < TCP_FIXED_HEADER_LEN {
        return None;
    }
    let data = segment.get(header_len..)?;
    let mut md5 = Md5::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            md5.update(s.octets());
            md5.update(d.octets());
            md5.update([0, IpNumber::TCP.0]);
            md5.update(u16::try_from(segment.len()).ok()?.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            md5.update(s.octets());
            md5.update(d.octets());
            md5.update(u32::try_from(segment.len()).ok()?.to_be_bytes());
            md5.update([0, 0, 0, IpNumber::TCP.0]);
        }
        _ => return None,
    }
    // Header bytes 16..18 are the checksum, replaced by zeros (RFC 2385 §2.0 item 2).
    md5.update(segment.get(..16)?);
    md5.update([0, 0]);
    md5.update(segment.get(18..TCP_FIXED_HEADER_LEN)?);
    md5.update(data);
    md5.update(key);
    Some(md5.finalize().into())
}

/// Reads a whole pcap or pcapng capture and checks every TCP-MD5 signature with `key`.
///
/// # Errors
/// A key that is empty or longer than [`TCP_MD5SIG_MAXKEYLEN`], input that is not a capture,
/// a capture whose framing is damaged before its last record, or an unsupported link type.
pub fn verify_pcap(data: &[u8], key: &[u8]) -> Result<Report, Md5VerifyError> {
    if key.is_empty() {
        return Err(Md5VerifyError::EmptyKey);
    }
    if key.len() > TCP_MD5SIG_MAXKEYLEN {
        return Err(Md5VerifyError::KeyTooLong { len: key.len() });
    }
    let mut tally = Tally { key, ..Tally::default() };
    let walked = crate::capture::walk(data, |link, frame| tally.packet(link, frame))?;
    tally.capture_truncated = walked.truncated;
    Ok(tally.finish(walked.format))
}

/// Finds the TCP-MD5 option in the TCP options area (RFC 9293 §3.1 option walk).
fn md5_option(options: &[u8]) -> Option<Result<&[u8], u8>> {
    let mut rest = options;
    while let Some((&kind, tail)) = rest.split_first() {
        match kind {
            0 => return None,
            1 => rest = tail,
            _ => {
                let len = *tail.first()?;
                let body = rest.get(2..usize::from(len))?;
                if kind == TCPOPT_MD5SIG {
                    return Some((len == TCPOLEN_MD5SIG).then_some(body).ok_or(len));
                }
                rest = rest.get(usize::from(len.max(2))..)?;
            }
        }
    }
    None
}

/// TCP flags byte (header offset 13) as names, e.g. `SYN,ACK`.
fn flag_names(flags: Option<u8>) -> String {
    let Some(bits) = flags else {
        return "?".to_owned();
    };
    let names: Vec<&str> = ["FIN", "SYN", "RST", "PSH", "ACK", "URG"]
        .into_iter()
        .zip(0u32..)
        .filter(|&(_, bit)| bits.checked_shr(bit).is_some_and(|b| b & 1 == 1))
        .map(|(name, _)| name)
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(",")
    }
}

/// What one captured frame turned out to be.
enum Packet {
    NonTcp,
    Undecodable,
    Segment(SegmentVerdict),
}

/// Decodes one captured frame and, for a TCP segment, checks its signature with `key`.
fn classify(link: DataLink, frame: u64, data: &[u8], key: &[u8]) -> Result<Packet, Md5VerifyError> {
    let Some(sliced) = slice_frame(link, frame, data)? else {
        return Ok(Packet::Undecodable);
    };
    let (src_ip, dst_ip, ip_payload) = match &sliced.net {
        Some(net) => match crate::capture::ip_parts(net) {
            Some(parts) => parts,
            None => return Ok(Packet::NonTcp),
        },
        None if sliced.stop_err.is_some() => return Ok(Packet::Undecodable),
        None => return Ok(Packet::NonTcp),
    };
    if ip_payload.ip_number != IpNumber::TCP {
        return Ok(Packet::NonTcp);
    }
    // Fragments and TCP headers cut by the snaplen leave `transport` empty.
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        let cut = ip_payload.incomplete && !ip_payload.fragmented;
        let segment = cut.then(|| cut_segment(frame, src_ip, dst_ip, ip_payload.payload));
        return Ok(segment.flatten().map_or(Packet::Undecodable, Packet::Segment));
    };
    let (verdict, in_packet, expected) = match md5_option(tcp.options()) {
        None => (Verdict::Unsigned, None, None),
        Some(Err(_len)) => (Verdict::BadOption, None, None),
        Some(Ok(digest)) => {
            // A segment cut by the snaplen cannot be hashed (RFC 2385 covers all its data).
            let computed = (!ip_payload.incomplete).then(|| segment_digest(src_ip, dst_ip, tcp.slice(), key)).flatten();
            let verdict = match computed {
                None => Verdict::Truncated,
                Some(c) if c.as_slice() == digest => Verdict::Valid,
                Some(_) => Verdict::Invalid,
            };
            (verdict, Some(hex(digest)), computed.map(|c| hex(&c)))
        }
    };
    Ok(Packet::Segment(SegmentVerdict {
        frame,
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        flags: flag_names(tcp.slice().get(13).copied()),
        seq: tcp.sequence_number(),
        payload_len: tcp.payload().len(),
        verdict,
        digest_in_packet: in_packet,
        digest_expected: expected,
    }))
}

/// A segment whose TCP header the snaplen cut: ports, seq and flags as far as captured.
fn cut_segment(frame: u64, src: IpAddr, dst: IpAddr, tcp: &[u8]) -> Option<SegmentVerdict> {
    let &[s1, s2, d1, d2] = tcp.get(..4)? else {
        return None;
    };
    let seq = tcp.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()).map_or(0, u32::from_be_bytes);
    let digest = md5_option(tcp.get(TCP_FIXED_HEADER_LEN..).unwrap_or_default()).and_then(Result::ok);
    Some(SegmentVerdict {
        frame,
        src: SocketAddr::new(src, u16::from_be_bytes([s1, s2])),
        dst: SocketAddr::new(dst, u16::from_be_bytes([d1, d2])),
        flags: flag_names(tcp.get(13).copied()),
        seq,
        payload_len: 0,
        verdict: Verdict::Truncated,
        digest_in_packet: digest.map(hex),
        digest_expected: None,
    })
}

fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

/// Accumulates verdicts while the capture is read.
#[derive(Default)]
struct Tally<'k> {
    key: &'k [u8],
    frames: u64,
    link_types: Vec<DataLink>,
    non_tcp: u64,
    undecodable: u64,
    capture_truncated: bool,
    totals: Counts,
    flows: Vec<FlowReport>,
    index: HashMap<(SocketAddr, SocketAddr), usize>,
    segments: Vec<SegmentVerdict>,
}

impl<'k> Tally<'k> {
    fn packet(&mut self, link: DataLink, data: &[u8]) -> Result<(), Md5VerifyError> {
        bump(&mut self.frames);
        if !self.link_types.contains(&link) {
            self.link_types.push(link);
        }
        match classify(link, self.frames, data, self.key)? {
            Packet::NonTcp => bump(&mut self.non_tcp),
            Packet::Undecodable => bump(&mut self.undecodable),
            Packet::Segment(segment) => self.record(segment),
        }
        Ok(())
    }

    fn record(&mut self, seg: SegmentVerdict) {
        let next = self.flows.len();
        let i = *self.index.entry((seg.src, seg.dst)).or_insert(next);
        if i == next {
            self.flows.push(FlowReport {
                src: seg.src,
                dst: seg.dst,
                counts: Counts::default(),
                first_invalid_frame: None,
                first_invalid_flags: None,
            });
        }
        self.totals.add(seg.verdict);
        if let Some(flow) = self.flows.get_mut(i) {
            flow.counts.add(seg.verdict);
            if seg.verdict == Verdict::Invalid && flow.first_invalid_frame.is_none() {
                flow.first_invalid_frame = Some(seg.frame);
                flow.first_invalid_flags = Some(seg.flags.clone());
            }
        }
        self.segments.push(seg);
    }

    fn finish(self, format: &'static str) -> Report {
        let mut report = Report {
            format,
            link_types: self.link_types.into_iter().map(link_name).collect(),
            packets_total: self.frames,
            packets_skipped_non_tcp: self.non_tcp,
            packets_undecodable: self.undecodable,
            capture_truncated: self.capture_truncated,
            totals: self.totals,
            flows: self.flows,
            segments: self.segments,
            passed: false,
            verdict: String::new(),
        };
        (report.passed, report.verdict) = judge(&report);
        report
    }
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Unsigned segments matter when they belong to BGP (port 179) or to a connection whose other
/// direction is signed: that sender has no key for this peer. Other TCP traffic is ignored.
fn unsigned_matters(flow: &FlowReport, flows: &[FlowReport]) -> bool {
    let bgp = flow.src.port() == BGP_PORT || flow.dst.port() == BGP_PORT;
    let reverse_signed = flows.iter().any(|r| r.src == flow.dst && r.dst == flow.src && r.counts.signed > 0);
    flow.counts.unsigned > 0 && (bgp || reverse_signed)
}

/// The verdict line: `(passed, text)`.
fn judge(r: &Report) -> (bool, String) {
    let t = &r.totals;
    if t.segments == 0 {
        let n = plural(r.packets_total, "packet");
        let hint = "capture with `tcpdump -s 0 -w FILE tcp port 179`";
        return (false, format!("FAIL: no TCP segments in {n}: {hint}"));
    }
    let mut problems = Vec::new();
    if t.invalid > 0 {
        let on: Vec<String> = (r.flows.iter())
            .filter_map(|f| {
                let (frame, flags) = (f.first_invalid_frame?, f.first_invalid_flags.as_deref()?);
                Some(format!("{} -> {} ({flags}, first at frame {frame})", f.src, f.dst))
            })
            .collect();
        let n = plural(t.invalid, "segment");
        let why = "that sender signs with another key than --key";
        problems.push(format!("{n} FAILED: key mismatch on {}: {why}", on.join("; ")));
    }
    if t.bad_option > 0 {
        let n = plural(t.bad_option, "segment");
        problems.push(format!("{n} with a malformed MD5 option (length != 18)"));
    }
    for f in r.flows.iter().filter(|f| unsigned_matters(f, &r.flows)) {
        let n = plural(f.counts.unsigned, "unsigned segment");
        let why = "that sender has no TCP-MD5 key for this peer";
        problems.push(format!("{n} on {} -> {}: {why}", f.src, f.dst));
    }
    if t.signed == 0 && problems.is_empty() {
        let n = plural(t.segments, "TCP segment");
        let why = "configure the password on both peers";
        problems.push(format!("none of {n} carries a TCP-MD5 option: {why}"));
    }
    if !problems.is_empty() {
        return (false, format!("FAIL: {}", problems.join("; ")));
    }
    let n = plural(t.signed, "signed segment");
    let mut text =
        if t.valid == t.signed { format!("OK: all {n} valid") } else { format!("OK: {} of {n} valid", t.valid) };
    if t.truncated > 0 {
        let n = plural(t.truncated, "segment");
        let _ = write!(text, "; {n} cut by the snaplen, not verifiable: capture with -s 0");
    }
    (t.valid > 0, text)
}

/// Table columns of the per-flow counts.
const COLUMNS: [&str; 7] = ["segments", "signed", "valid", "invalid", "unsigned", "truncated", "bad option"];

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "capture: {} {}, {}: {} TCP, {} non-TCP, {} undecodable{}",
            self.format,
            self.link_types.join(", "),
            plural(self.packets_total, "packet"),
            self.totals.segments,
            self.packets_skipped_non_tcp,
            self.packets_undecodable,
            if self.capture_truncated { " (file ends mid-record; rest ignored)" } else { "" }
        )?;
        let names: Vec<String> = self.flows.iter().map(|fl| format!("{} -> {}", fl.src, fl.dst)).collect();
        let w = names.iter().map(String::len).max().unwrap_or(0).max(4);
        if !self.flows.is_empty() {
            write!(f, "{:<w$}", "flow")?;
            for column in COLUMNS {
                write!(f, "  {column}")?;
            }
            writeln!(f)?;
        }
        for (fl, name) in self.flows.iter().zip(&names) {
            write!(f, "{name:<w$}")?;
            for (column, n) in COLUMNS.iter().zip(fl.counts.row()) {
                write!(f, "  {n:>width$}", width = column.len())?;
            }
            if let (Some(frame), Some(flags)) = (fl.first_invalid_frame, &fl.first_invalid_flags) {
                write!(f, "  first invalid: frame {frame} ({flags})")?;
            }
            writeln!(f)?;
        }
        write!(f, "verdict: {}", self.verdict)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn option_walk_finds_md5_after_nops_and_rejects_bad_lengths() {
        let mut opts = vec![1, 1, 19, 18];
        opts.extend_from_slice(&[0xab; 16]);
        opts.extend_from_slice(&[2, 4, 5, 0xb4]);
        assert_eq!(md5_option(&opts), Some(Ok(&[0xab; 16][..])));
        let short = [2, 4, 5, 0xb4, 19, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(md5_option(&short), Some(Err(10)));
        // End-of-options stops the walk; a cut option or a zero length ends it without a panic.
        for absent in [&[2, 4, 5, 0xb4, 0, 19, 18][..], &[19, 18, 0, 0], &[8, 0, 19]] {
            assert_eq!(md5_option(absent), None, "{absent:?}");
        }
    }
}
