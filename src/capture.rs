//! Packet captures held in memory: the pcap and pcapng reader shared by `anycastd md5 verify`
//! ([`crate::md5verify`]) and `anycastd decode --pcap` ([`crate::cli::pcap`]).
//!
//! Owns: telling pcap from pcapng by the magic number, walking the records (a last record cut
//! short, as when tcpdump is killed, ends the walk and is reported, not an error), and slicing
//! one frame's link layer down to IP ([`slice_frame`]) for the link types `tcpdump` writes:
//! ETHERNET (1), RAW (101, also IPV4 228 / IPV6 229), LINUX_SLL (113) and LINUX_SLL2 (276)
//! as written by `tcpdump -i any`, NULL (0) and LOOP (108).
//!
//! Must not: open files, nor panic on any input: every byte comes from a file an operator
//! handed us.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use etherparse::{EtherType, LaxIpPayloadSlice, LaxNetSlice, LaxSlicedPacket, LinuxSllProtocolType, LinuxSllSlice};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, PcapError};
use std::net::IpAddr;

use crate::wire::hex;

/// File magic numbers as read big-endian: pcapng, then pcap (µs and ns, both byte orders).
const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;
const PCAP_MAGICS: [u32; 4] = [0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1];
/// Linux cooked capture v2 header length; its protocol (EtherType) is the first 2 bytes.
const SLL2_HEADER_LEN: usize = 20;

/// Why a capture cannot be read at all (per-packet problems are the caller's to count).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// Neither the pcap nor the pcapng magic number.
    #[error(
        "not a pcap or pcapng capture (starts with {magic}): record one with \
         `tcpdump -i IFACE -s 0 -w FILE tcp port 179`"
    )]
    NotACapture { magic: String },
    /// The capture's own framing is broken (not a truncated last record, which is tolerated).
    #[error("capture is damaged at {location}: {detail}; re-record it or cut it with `editcap`")]
    Malformed { location: String, detail: String },
    /// A packet uses a link-layer encapsulation this reader does not decode.
    #[error(
        "frame {frame}: link type {link} is not supported (supported: ETHERNET 1, RAW 101, \
         IPV4 228, IPV6 229, LINUX_SLL 113, LINUX_SLL2 276, NULL 0, LOOP 108); \
         capture on an Ethernet interface or with `tcpdump -i any`"
    )]
    UnsupportedLinkType { frame: u64, link: String },
}

/// What the walk over a capture found, besides the frames it handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// `pcap` or `pcapng`.
    pub format: &'static str,
    /// The file ends inside a record: the rest was ignored.
    pub truncated: bool,
}

/// Whether `data` starts like a pcap or pcapng file.
pub fn is_capture(data: &[u8]) -> bool {
    let magic = data.get(..4).and_then(|m| <[u8; 4]>::try_from(m).ok()).map(u32::from_be_bytes);
    magic.is_some_and(|m| m == PCAPNG_MAGIC || PCAP_MAGICS.contains(&m))
}

/// Calls `frame(link, data)` for every packet record of the capture in `data`, in order.
///
/// # Errors
/// Input that is not a capture, a capture damaged before its last record, or whatever
/// `frame` returns (the walk stops there).
pub fn walk<E: From<CaptureError>>(
    data: &[u8],
    mut frame: impl FnMut(DataLink, &[u8]) -> Result<(), E>,
) -> Result<Walked, E> {
    let magic = data.get(..4).and_then(|m| <[u8; 4]>::try_from(m).ok()).map(u32::from_be_bytes);
    match magic {
        Some(PCAPNG_MAGIC) => walk_pcapng(data, &mut frame).map(|truncated| Walked { format: "pcapng", truncated }),
        Some(m) if PCAP_MAGICS.contains(&m) => {
            walk_pcap(data, &mut frame).map(|truncated| Walked { format: "pcap", truncated })
        }
        _ => {
            let magic = Some(hex(data.get(..4).unwrap_or(data))).filter(|m| !m.is_empty());
            let magic = magic.unwrap_or_else(|| "nothing (empty input)".to_owned());
            Err(CaptureError::NotACapture { magic }.into())
        }
    }
}

fn malformed(location: String, err: &PcapError) -> CaptureError {
    let detail = match err {
        PcapError::IncompleteBuffer => "ends early".to_owned(),
        other => other.to_string(),
    };
    CaptureError::Malformed { location, detail }
}

/// The pcap records; `Ok(true)` when the file ends inside one.
fn walk_pcap<E: From<CaptureError>>(
    data: &[u8],
    frame: &mut impl FnMut(DataLink, &[u8]) -> Result<(), E>,
) -> Result<bool, E> {
    let (mut rest, parser) = PcapParser::new(data).map_err(|e| malformed("pcap file header".to_owned(), &e))?;
    let link = parser.header().datalink;
    let mut record: u64 = 0;
    while !rest.is_empty() {
        record = record.saturating_add(1);
        // Raw records: pcap-file 2.0 rejects orig_len > snaplen, which is exactly what a
        // capture cut by `-s` holds; truncation is judged from the IP lengths instead.
        match parser.next_raw_packet(rest) {
            Ok((next, r)) => {
                rest = next;
                frame(link, &r.data)?;
            }
            Err(PcapError::IncompleteBuffer) => return Ok(true),
            Err(e) => return Err(malformed(format!("record {record}"), &e).into()),
        }
    }
    Ok(false)
}

/// The pcapng packet blocks; `Ok(true)` when the file ends inside one.
fn walk_pcapng<E: From<CaptureError>>(
    data: &[u8],
    frame: &mut impl FnMut(DataLink, &[u8]) -> Result<(), E>,
) -> Result<bool, E> {
    let (mut rest, mut parser) =
        PcapNgParser::new(data).map_err(|e| malformed("pcapng section header".to_owned(), &e))?;
    let mut block_no: u64 = 1;
    while !rest.is_empty() {
        block_no = block_no.saturating_add(1);
        let block = match parser.next_block(rest) {
            Ok((next, block)) => {
                rest = next;
                block
            }
            Err(PcapError::IncompleteBuffer) => return Ok(true),
            Err(e) => return Err(malformed(format!("pcapng block {block_no}"), &e).into()),
        };
        let (interface, packet) = match &block {
            Block::EnhancedPacket(b) => (usize::try_from(b.interface_id).ok(), &b.data),
            Block::SimplePacket(b) => (Some(0), &b.data),
            Block::Packet(b) => (Some(usize::from(b.interface_id)), &b.data),
            _ => continue,
        };
        let Some(idb) = interface.and_then(|i| parser.interfaces().get(i)) else {
            let n = parser.interfaces().len();
            let detail = format!("packet names interface {interface:?}, only {n} described");
            let location = format!("pcapng block {block_no}");
            return Err(CaptureError::Malformed { location, detail }.into());
        };
        frame(idb.linktype, packet)?;
    }
    Ok(false)
}

/// Decodes the link layer down to IP; `Ok(None)` when the frame is too broken to slice.
pub fn slice_frame(link: DataLink, frame: u64, data: &[u8]) -> Result<Option<LaxSlicedPacket<'_>>, CaptureError> {
    Ok(match link {
        DataLink::ETHERNET => LaxSlicedPacket::from_ethernet(data).ok(),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => LaxSlicedPacket::from_ip(data).ok(),
        // 4-byte address family (host or network order); the IP version nibble decides.
        DataLink::NULL | DataLink::LOOP => data.get(4..).and_then(|ip| LaxSlicedPacket::from_ip(ip).ok()),
        DataLink::LINUX_SLL => LinuxSllSlice::from_slice(data).ok().and_then(|sll| {
            let LinuxSllProtocolType::EtherType(et) = sll.protocol_type() else {
                return None;
            };
            Some(LaxSlicedPacket::from_ether_type(et, sll.payload().payload))
        }),
        DataLink::LINUX_SLL2 => match (data.get(..2), data.get(SLL2_HEADER_LEN..)) {
            (Some(&[hi, lo]), Some(ip)) => {
                Some(LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([hi, lo])), ip))
            }
            _ => None,
        },
        other => {
            let link = link_name(other);
            return Err(CaptureError::UnsupportedLinkType { frame, link });
        }
    })
}

/// The source and destination addresses of an IPv4 or IPv6 packet and its payload; `None`
/// for anything else (ARP, no network layer).
pub fn ip_parts<'a>(net: &LaxNetSlice<'a>) -> Option<(IpAddr, IpAddr, LaxIpPayloadSlice<'a>)> {
    match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            Some((h.source_addr().into(), h.destination_addr().into(), v4.payload().clone()))
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            Some((h.source_addr().into(), h.destination_addr().into(), v6.payload().clone()))
        }
        LaxNetSlice::Arp(_) => None,
    }
}

/// `ETHERNET (1)`.
pub fn link_name(link: DataLink) -> String {
    format!("{link:?} ({})", u32::from(link))
}
