//! BFD's UDP sockets (RFC 5881 §4–5, RFC 5883 §5).
//!
//! A session transmits on its own [`TxSocket`]: bound to the local address and a source port
//! from [`SOURCE_PORTS`] that it keeps for its whole life (RFC 5881 §4), sending with TTL /
//! hop limit 255 and DSCP CS6. The sessions on one local address receive on one [`RxSocket`]
//! per port (3784 single hop, 4784 multihop), which reports each datagram's TTL / hop limit and
//! destination address so the caller can apply [`ttl_acceptable`] and demultiplex.
//!
//! `unsafe` here: viewing the caller's byte buffers as `MaybeUninit` for `recvmsg`, the
//! and the `setsockopt` calls socket2 does not wrap (`IP_RECVTTL`, `IP_PKTINFO`,
//! `IPV6_RECVPKTINFO`). The control messages themselves are parsed from plain bytes,
//! bounds-checked. Both sockets are non-blocking and need no runtime: the BFD thread waits on
//! them with `poll(2)` (`speaker::bfd::driver`).
#![allow(unsafe_code)]

use socket2::{Domain, MaybeUninitSlice, MsgHdrMut, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::{offset_of, size_of, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

/// UDP destination port of single-hop BFD Control packets (RFC 5881 §4).
pub const PORT_SINGLE_HOP: u16 = 3784;
/// UDP destination port of multihop BFD Control packets (RFC 5883 §5).
pub const PORT_MULTIHOP: u16 = 4784;
/// Source ports of BFD Control packets (RFC 5881 §4: 49152 through 65535).
pub const SOURCE_PORTS: RangeInclusive<u16> = 49152..=65535;
/// TTL / hop limit every BFD Control packet is sent with (RFC 5881 §5; RFC 5883 §5 keeps it).
pub const TTL: u8 = 255;
/// DSCP CS6 (network control) in the IP TOS / IPv6 traffic class octet.
pub const DSCP_CS6_TOS: u8 = 0xC0;

/// What went wrong with a BFD socket, and on which address.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("cannot create a BFD socket for {local}: {err}")]
    Create { local: IpAddr, err: io::Error },
    #[error("cannot set {what} on the BFD socket for {local}: {err}")]
    Option { what: &'static str, local: IpAddr, err: io::Error },
    #[error("cannot bind BFD socket to {addr}: {err}")]
    Bind { addr: SocketAddr, err: io::Error },
    #[error(
        "no free BFD source port on {local}: all of {}..={} are in use",
        SOURCE_PORTS.start(),
        SOURCE_PORTS.end()
    )]
    NoFreePort { local: IpAddr },
    #[error("cannot send BFD packet from {local} to {remote}: {err}")]
    Send { local: SocketAddr, remote: SocketAddr, err: io::Error },
    #[error("cannot receive on BFD socket {local}: {err}")]
    Recv { local: SocketAddr, err: io::Error },
}

/// A non-blocking, close-on-exec UDP socket for `local` (IPv6 only for an IPv6 address).
fn udp_socket(local: IpAddr) -> Result<Socket, SocketError> {
    let domain = if local.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), Some(Protocol::UDP))
        .map_err(|err| SocketError::Create { local, err })?;
    if local.is_ipv6() {
        sock.set_only_v6(true).map_err(|err| SocketError::Option { what: "IPV6_V6ONLY", local, err })?;
    }
    Ok(sock)
}

/// Turns on a boolean socket option socket2 does not wrap.
fn enable(
    sock: &Socket,
    local: IpAddr,
    level: libc::c_int,
    name: libc::c_int,
    what: &'static str,
) -> Result<(), SocketError> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a live c_int and we pass its exact size; the kernel only reads it, and
    // the fd is owned by `sock` for the whole call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::addr_of!(one).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(SocketError::Option { what, local, err: io::Error::last_os_error() })
    }
}

/// The port after `port` in [`SOURCE_PORTS`], wrapping from the last to the first.
fn next_source_port(port: u16) -> u16 {
    if port >= *SOURCE_PORTS.end() || port < *SOURCE_PORTS.start() {
        *SOURCE_PORTS.start()
    } else {
        port + 1
    }
}

/// The socket one BFD session transmits on (RFC 5881 §4: one source port for the whole
/// session). Dropping it closes the socket and frees the port.
#[derive(Debug)]
pub struct TxSocket {
    sock: Socket,
    local: SocketAddr,
}

impl TxSocket {
    /// Binds to `local` and the first free port of [`SOURCE_PORTS`] from `first_try` on,
    /// wrapping from 65535 to 49152 (a `first_try` below the range starts at 49152). Sends with
    /// TTL / hop limit [`TTL`] and TOS / traffic class [`DSCP_CS6_TOS`].
    pub fn bind(local: IpAddr, first_try: u16) -> Result<TxSocket, SocketError> {
        let sock = udp_socket(local)?;
        let opt = |what: &'static str| move |err| SocketError::Option { what, local, err };
        if local.is_ipv6() {
            sock.set_unicast_hops_v6(u32::from(TTL)).map_err(opt("IPV6_UNICAST_HOPS"))?;
            sock.set_tclass_v6(u32::from(DSCP_CS6_TOS)).map_err(opt("IPV6_TCLASS"))?;
        } else {
            sock.set_ttl_v4(u32::from(TTL)).map_err(opt("IP_TTL"))?;
            sock.set_tos_v4(u32::from(DSCP_CS6_TOS)).map_err(opt("IP_TOS"))?;
        }
        let mut port = if SOURCE_PORTS.contains(&first_try) { first_try } else { *SOURCE_PORTS.start() };
        for _ in SOURCE_PORTS {
            let addr = SocketAddr::new(local, port);
            match sock.bind(&addr.into()) {
                Ok(()) => return Ok(TxSocket { sock, local: addr }),
                // A failed bind leaves the socket unbound: try the next port on the same one.
                Err(err) if err.kind() == io::ErrorKind::AddrInUse => port = next_source_port(port),
                Err(err) => return Err(SocketError::Bind { addr, err }),
            }
        }
        Err(SocketError::NoFreePort { local })
    }

    /// The source port this session sends from.
    pub fn local_port(&self) -> u16 {
        self.local.port()
    }

    /// The bound local address and port.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Sends one datagram to `remote` without waiting: `Ok(true)` when the kernel took it,
    /// `Ok(false)` when the socket buffer is full (`EWOULDBLOCK`) or the kernel is out of
    /// buffers (`ENOBUFS`) — the packet is dropped and the caller counts it.
    pub fn send_to(&self, payload: &[u8], remote: SocketAddr) -> Result<bool, SocketError> {
        let to = SockAddr::from(remote);
        loop {
            return match self.sock.send_to(payload, &to) {
                Ok(_) => Ok(true),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(false),
                Err(err) if err.raw_os_error() == Some(libc::ENOBUFS) => Ok(false),
                Err(err) => Err(SocketError::Send { local: self.local, remote, err }),
            };
        }
    }
}

impl AsFd for TxSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for TxSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// One received datagram: `len` bytes at the start of the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes written to the buffer (at most its length).
    pub len: usize,
    /// The sender's address and port.
    pub src: SocketAddr,
    /// The received TTL / hop limit; `None` if the kernel did not report it.
    pub ttl: Option<u8>,
    /// The datagram's destination address (from `IP_PKTINFO` / `IPV6_PKTINFO`).
    pub dst: Option<IpAddr>,
    /// The datagram was longer than the buffer; the rest is lost (`MSG_TRUNC`).
    pub truncated: bool,
    /// The interface it arrived on (from the pktinfo), for single-hop sessions that are
    /// tied to an interface (RFC 5881 §3).
    pub ifindex: Option<u32>,
    /// When the kernel received it (`SO_TIMESTAMPNS`, wall clock).
    pub received: Option<std::time::SystemTime>,
}

/// The socket the BFD sessions on one local address receive on: port 3784 (single hop) or
/// 4784 (multihop), reporting TTL / hop limit and destination address with every datagram.
#[derive(Debug)]
pub struct RxSocket {
    fd: Socket,
    local: SocketAddr,
}

impl RxSocket {
    /// Binds to (`local`, [`PORT_MULTIHOP`] or [`PORT_SINGLE_HOP`]).
    pub fn bind(local: IpAddr, multihop: bool) -> Result<RxSocket, SocketError> {
        let addr = SocketAddr::new(local, if multihop { PORT_MULTIHOP } else { PORT_SINGLE_HOP });
        let sock = udp_socket(local)?;
        if local.is_ipv6() {
            sock.set_recv_hoplimit_v6(true).map_err(|err| SocketError::Option {
                what: "IPV6_RECVHOPLIMIT",
                local,
                err,
            })?;
            enable(&sock, local, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO")?;
        } else {
            enable(&sock, local, libc::IPPROTO_IP, libc::IP_RECVTTL, "IP_RECVTTL")?;
            enable(&sock, local, libc::IPPROTO_IP, libc::IP_PKTINFO, "IP_PKTINFO")?;
        }
        // The kernel's receive time: the BFD thread reads datagrams a little after they
        // arrive and counts them as heard when they arrived.
        enable(&sock, local, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, "SO_TIMESTAMPNS")?;
        sock.bind(&addr.into()).map_err(|err| SocketError::Bind { addr, err })?;
        Ok(RxSocket { fd: sock, local: addr })
    }

    /// The bound local address and port.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// One datagram if one is queued (its start written into `buf`; a longer one is cut
    /// and flagged [`Datagram::truncated`]), `None` when none is: never waits.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<Datagram>, SocketError> {
        loop {
            match recv_one(&self.fd, self.local.is_ipv6(), buf) {
                Ok(d) => return Ok(Some(d)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(err) => return Err(SocketError::Recv { local: self.local, err }),
            }
        }
    }
}

impl AsFd for RxSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for RxSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Room for the control messages asked for (TTL / hop limit and pktinfo: 56 octets for IPv4,
/// 64 for IPv6 on 64-bit Linux) with margin; aligned as `struct cmsghdr` wants.
#[repr(C, align(8))]
struct ControlBuf([u8; 256]);

/// `buf` as the `MaybeUninit` slice `recvmsg` writes into.
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the size, alignment and validity of `u8` (every `u8` is a
    // valid `MaybeUninit<u8>`), so the view covers the same `buf.len()` bytes. The view is only
    // handed to `recvmsg`, which writes initialised bytes; nothing writes an uninitialised
    // value through it, so `buf` stays initialised once the view is gone.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<u8>>(), buf.len()) }
}

/// One non-blocking `recvmsg` with a control buffer.
fn recv_one(sock: &Socket, v6: bool, buf: &mut [u8]) -> io::Result<Datagram> {
    let any: IpAddr = if v6 { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() };
    // Sized for this socket's family; the kernel overwrites it with the sender's address.
    let mut name = SockAddr::from(SocketAddr::new(any, 0));
    let mut control = ControlBuf([0; 256]);
    let mut bufs = [MaybeUninitSlice::new(as_uninit(buf))];
    let mut msg = MsgHdrMut::new().with_addr(&mut name).with_buffers(&mut bufs).with_control(as_uninit(&mut control.0));
    let len = sock.recvmsg(&mut msg, 0)?;
    let truncated = msg.flags().is_truncated();
    let control_len = msg.control_len();
    let src = name
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "recvmsg returned no IP source address"))?;
    let anc = parse_control(control.0.get(..control_len).unwrap_or_default());
    Ok(Datagram { len, src, ttl: anc.ttl, dst: anc.dst, truncated, ifindex: anc.ifindex, received: anc.received })
}

/// What the control messages of one datagram said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Ancillary {
    ttl: Option<u8>,
    dst: Option<IpAddr>,
    ifindex: Option<u32>,
    received: Option<std::time::SystemTime>,
}

/// `cmsg_len`'s type: `size_t` in glibc, `socklen_t` (with padding) in musl.
#[cfg(not(target_env = "musl"))]
type CmsgLen = usize;
#[cfg(target_env = "musl")]
type CmsgLen = u32;

/// `CMSG_ALIGN`: Linux aligns control messages to `size_t`.
const fn cmsg_align(len: usize) -> usize {
    (len + size_of::<usize>() - 1) & !(size_of::<usize>() - 1)
}

/// `CMSG_LEN(0)`: where a control message's data starts.
const CMSG_HDR: usize = cmsg_align(size_of::<libc::cmsghdr>());

fn octets<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn c_int_at(b: &[u8], at: usize) -> Option<libc::c_int> {
    octets(b, at).map(libc::c_int::from_ne_bytes)
}

/// Walks the control messages (`CMSG_FIRSTHDR` / `CMSG_NXTHDR`) from bytes, bounds-checked:
/// a short or malformed message ends the walk, it never reads past `control`.
fn parse_control(mut control: &[u8]) -> Ancillary {
    let mut anc = Ancillary::default();
    while let Some(hdr) = control.get(..CMSG_HDR) {
        let len = octets(hdr, offset_of!(libc::cmsghdr, cmsg_len)).map(CmsgLen::from_ne_bytes);
        // A no-op on glibc (`CmsgLen` is `usize`), a widening on musl.
        #[allow(clippy::useless_conversion)]
        let len = len.and_then(|l| usize::try_from(l).ok());
        let Some(len) = len.filter(|&l| l >= CMSG_HDR) else { break };
        let (Some(level), Some(kind), Some(data)) = (
            c_int_at(hdr, offset_of!(libc::cmsghdr, cmsg_level)),
            c_int_at(hdr, offset_of!(libc::cmsghdr, cmsg_type)),
            control.get(CMSG_HDR..len),
        ) else {
            break;
        };
        match (level, kind) {
            (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                anc.ttl = c_int_at(data, 0).and_then(|t| u8::try_from(t).ok());
            }
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                // ipi_addr is the header's destination; ipi_spec_dst the local routing address.
                anc.dst = octets::<4>(data, offset_of!(libc::in_pktinfo, ipi_addr)).map(|a| Ipv4Addr::from(a).into());
                anc.ifindex =
                    c_int_at(data, offset_of!(libc::in_pktinfo, ipi_ifindex)).and_then(|i| u32::try_from(i).ok());
            }
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                // tv_sec is 64-bit on every 64-bit target (glibc and musl alike; libc's `time_t`
                // alias is deprecated on musl for its 32-bit history).
                let sec = octets(data, offset_of!(libc::timespec, tv_sec)).map(i64::from_ne_bytes);
                let nsec = octets(data, offset_of!(libc::timespec, tv_nsec)).map(libc::c_long::from_ne_bytes);
                anc.received = match (sec.and_then(|s| u64::try_from(s).ok()), nsec.and_then(|n| u32::try_from(n).ok()))
                {
                    (Some(s), Some(n)) if n < 1_000_000_000 => {
                        std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(s, n))
                    }
                    _ => None,
                };
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                anc.dst =
                    octets::<16>(data, offset_of!(libc::in6_pktinfo, ipi6_addr)).map(|a| Ipv6Addr::from(a).into());
                anc.ifindex = octets(data, offset_of!(libc::in6_pktinfo, ipi6_ifindex)).map(u32::from_ne_bytes);
            }
            _ => {}
        }
        control = control.get(cmsg_align(len)..).unwrap_or_default();
    }
    anc
}

/// The TTL / hop limit receive rule for a packet demultiplexed to a session.
///
/// - Single hop (RFC 5881 §5): without authentication a packet whose TTL / hop limit is not
///   255 MUST be discarded; with authentication it MAY be. We take the MAY too: the check is
///   cheaper than the digest and an authenticated single-hop peer sends 255 anyway (§5: MUST).
///   An unknown TTL (`None`) cannot be checked and is refused.
/// - Multihop (RFC 5883): no TTL / hop limit check on receive, authenticated or not. RFC 5883
///   §5 only changes the destination port to 4784 (GTSM cannot work over several hops) and
///   §6 answers the exposure with "SHOULD utilize cryptographic authentication"; it has no
///   sentence making a TTL check a MUST, so every TTL, and an unknown one, is accepted here.
///   A configured minimum TTL would be local policy for the caller, not this rule.
pub fn ttl_acceptable(multihop: bool, authenticated: bool, ttl: Option<u8>) -> bool {
    match (multihop, authenticated) {
        (false, false | true) => ttl == Some(TTL),
        (true, false | true) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(3);

    fn v4(last: u8) -> IpAddr {
        Ipv4Addr::new(127, 0, 0, last).into()
    }

    /// An RxSocket on `local` and a session's TxSocket on the same address.
    fn pair(local: IpAddr, multihop: bool, first_try: u16) -> (RxSocket, TxSocket) {
        let rx = rx_bind(local, multihop);
        let port = if multihop { PORT_MULTIHOP } else { PORT_SINGLE_HOP };
        assert_eq!(rx.local(), SocketAddr::new(local, port));
        let tx = TxSocket::bind(local, first_try).unwrap();
        assert!(SOURCE_PORTS.contains(&tx.local_port()));
        (rx, tx)
    }

    /// [`RxSocket::bind`], waiting up to 5 s while the port is taken: [::1]:3784 is one per
    /// machine, and another checkout's tests may hold it for a moment.
    fn rx_bind(local: IpAddr, multihop: bool) -> RxSocket {
        for _ in 0..50 {
            match RxSocket::bind(local, multihop) {
                Err(SocketError::Bind { err, .. }) if err.kind() == io::ErrorKind::AddrInUse => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                r => return r.unwrap(),
            }
        }
        RxSocket::bind(local, multihop).unwrap()
    }

    /// The next datagram, waiting (by polling) at most [`WAIT`].
    async fn recv(rx: &RxSocket, buf: &mut [u8]) -> Datagram {
        let end = std::time::Instant::now() + WAIT;
        loop {
            if let Some(d) = rx.try_recv(buf).expect("recv") {
                return d;
            }
            assert!(std::time::Instant::now() < end, "no datagram within 3 s");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    #[test]
    fn single_hop_wants_exactly_255() {
        for auth in [false, true] {
            assert!(ttl_acceptable(false, auth, Some(255)));
            assert!(!ttl_acceptable(false, auth, Some(254)));
            assert!(!ttl_acceptable(false, auth, Some(0)));
            assert!(!ttl_acceptable(false, auth, None));
        }
    }

    #[test]
    fn multihop_checks_no_ttl() {
        for auth in [false, true] {
            for ttl in [None, Some(0), Some(1), Some(254), Some(255)] {
                assert!(ttl_acceptable(true, auth, ttl), "{auth} {ttl:?}");
            }
        }
    }

    #[test]
    fn cmsg_arithmetic_matches_libc() {
        // SAFETY: CMSG_LEN / CMSG_SPACE are plain arithmetic on their argument.
        let (len0, space4, space20) = unsafe { (libc::CMSG_LEN(0), libc::CMSG_SPACE(4), libc::CMSG_SPACE(20)) };
        assert_eq!(CMSG_HDR, len0 as usize);
        assert_eq!(CMSG_HDR + cmsg_align(4), space4 as usize);
        assert_eq!(CMSG_HDR + cmsg_align(20), space20 as usize);
        assert_eq!(size_of::<CmsgLen>() + offset_of!(libc::cmsghdr, cmsg_len), offset_of!(libc::cmsghdr, cmsg_level));
    }

    fn cmsg(level: libc::c_int, kind: libc::c_int, data: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; CMSG_HDR];
        let len = CmsgLen::try_from(CMSG_HDR + data.len()).unwrap();
        let at = offset_of!(libc::cmsghdr, cmsg_len);
        m[at..at + size_of::<CmsgLen>()].copy_from_slice(&len.to_ne_bytes());
        let at = offset_of!(libc::cmsghdr, cmsg_level);
        m[at..at + 4].copy_from_slice(&level.to_ne_bytes());
        let at = offset_of!(libc::cmsghdr, cmsg_type);
        m[at..at + 4].copy_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(data);
        m.resize(cmsg_align(m.len()), 0);
        m
    }

    #[test]
    fn control_parser_reads_ttl_and_pktinfo_and_stops_on_garbage() {
        let mut pktinfo = vec![0u8; size_of::<libc::in_pktinfo>()];
        pktinfo[..4].copy_from_slice(&7i32.to_ne_bytes());
        let at = offset_of!(libc::in_pktinfo, ipi_addr);
        pktinfo[at..at + 4].copy_from_slice(&[192, 0, 2, 2]);
        let mut buf = cmsg(libc::IPPROTO_IP, libc::IP_TTL, &64i32.to_ne_bytes());
        buf.extend(cmsg(libc::IPPROTO_IP, libc::IP_PKTINFO, &pktinfo));
        let want = Ancillary {
            ttl: Some(64),
            dst: Some(Ipv4Addr::new(192, 0, 2, 2).into()),
            ifindex: Some(7),
            received: None,
        };
        assert_eq!(parse_control(&buf), want);
        // Cut anywhere: never a panic, never more than was there. The last message's padding
        // is not needed (the kernel need not count it in msg_controllen).
        let pktinfo_end = buf.len() - cmsg_align(pktinfo.len()) + pktinfo.len();
        for cut in 0..buf.len() {
            let got = parse_control(&buf[..cut]);
            assert_eq!(got.ttl.is_some(), cut >= CMSG_HDR + 4, "{cut}");
            assert_eq!(got.dst.is_some(), cut >= pktinfo_end, "{cut}");
        }
        // A zero cmsg_len ends the walk instead of looping.
        assert_eq!(parse_control(&[0u8; 64]), Ancillary::default());
        // An out-of-range TTL is not reported as a TTL.
        assert_eq!(parse_control(&cmsg(libc::IPPROTO_IP, libc::IP_TTL, &300i32.to_ne_bytes())).ttl, None);
    }

    #[tokio::test]
    async fn tx_to_rx_single_hop_v4_carries_ttl_255_and_destination() {
        let local = v4(151);
        let (rx, tx) = pair(local, false, 50051);
        let before = std::time::SystemTime::now();
        assert!(tx.send_to(b"bfd control", rx.local()).unwrap());
        let mut buf = [0u8; 64];
        let d = recv(&rx, &mut buf).await;
        let at = d.received.expect("a kernel receive time");
        assert!(at >= before - std::time::Duration::from_millis(1) && at <= std::time::SystemTime::now(), "{d:?}");
        assert_eq!(&buf[..d.len], b"bfd control");
        assert_eq!(d.src, SocketAddr::new(local, tx.local_port()));
        assert!(SOURCE_PORTS.contains(&d.src.port()));
        assert_eq!(d.ttl, Some(255));
        assert_eq!(d.dst, Some(local));
        assert!(d.ifindex.is_some_and(|i| i > 0), "{d:?}");
        assert!(!d.truncated);
        assert!(ttl_acceptable(false, false, d.ttl));
    }

    #[tokio::test]
    async fn multihop_rx_listens_on_4784() {
        let local = v4(152);
        let (rx, tx) = pair(local, true, 50052);
        assert!(tx.send_to(b"mh", rx.local()).unwrap());
        let mut buf = [0u8; 16];
        let d = recv(&rx, &mut buf).await;
        assert_eq!((&buf[..d.len], d.ttl, d.dst), (&b"mh"[..], Some(255), Some(local)));
    }

    #[tokio::test]
    async fn ttl_254_arrives_as_254_and_fails_the_single_hop_rule() {
        let local = v4(153);
        let rx = RxSocket::bind(local, false).unwrap();
        let plain = UdpSocket::bind((local, 0)).unwrap();
        plain.set_ttl(254).unwrap();
        plain.send_to(b"one hop too far", rx.local()).unwrap();
        let mut buf = [0u8; 64];
        let d = recv(&rx, &mut buf).await;
        assert_eq!(d.ttl, Some(254));
        assert_eq!(d.src, plain.local_addr().unwrap());
        assert!(!ttl_acceptable(false, false, d.ttl));
        assert!(!ttl_acceptable(false, true, d.ttl));
        assert!(ttl_acceptable(true, false, d.ttl));
    }

    #[tokio::test]
    async fn two_sessions_on_one_address_get_different_ports() {
        let local = v4(154);
        let a = TxSocket::bind(local, 50054).unwrap();
        let b = TxSocket::bind(local, 50054).unwrap();
        assert_ne!(a.local_port(), b.local_port());
        assert!(SOURCE_PORTS.contains(&a.local_port()) && SOURCE_PORTS.contains(&b.local_port()));
        // The port is kept: the socket is bound, not re-picked per packet.
        assert_eq!(a.local().port(), a.local_port());
    }

    #[test]
    fn the_port_search_wraps_from_65535_to_49152() {
        let local = v4(155);
        let _taken = UdpSocket::bind((local, 65535)).unwrap();
        let first_free = UdpSocket::bind((local, 49152)).is_ok();
        let tx = TxSocket::bind(local, 65535).unwrap();
        // Nothing is above 65535: any port found was found after wrapping.
        assert!(tx.local_port() < 65535 && SOURCE_PORTS.contains(&tx.local_port()), "{}", tx.local_port());
        if first_free {
            assert_eq!(tx.local_port(), 49152);
        }
        // A first try below the range starts at its bottom.
        let low = TxSocket::bind(local, 1000).unwrap();
        assert!(SOURCE_PORTS.contains(&low.local_port()));
        assert_eq!(next_source_port(65535), 49152);
        assert_eq!(next_source_port(49152), 49153);
        assert_eq!(next_source_port(0), 49152);
    }

    #[test]
    fn tx_sends_with_ttl_255_and_cs6() {
        let tx = TxSocket::bind(v4(156), 50056).unwrap();
        let s = socket2::SockRef::from(&tx);
        assert_eq!(s.tos_v4().unwrap(), u32::from(DSCP_CS6_TOS));
        assert_eq!(s.ttl_v4().unwrap(), 255);
        assert!(s.nonblocking().unwrap());
    }

    #[tokio::test]
    async fn a_long_datagram_is_flagged_truncated() {
        let (rx, tx) = pair(v4(157), false, 50057);
        assert!(tx.send_to(&[0xAA; 100], rx.local()).unwrap());
        let mut buf = [0u8; 10];
        let d = recv(&rx, &mut buf).await;
        assert!(d.truncated);
        assert_eq!(d.len, 10);
        assert_eq!(d.ttl, Some(255));
        // The next one fits and is not flagged.
        assert!(tx.send_to(&[0xBB; 8], rx.local()).unwrap());
        let d = recv(&rx, &mut buf).await;
        assert!(!d.truncated);
        assert_eq!(d.len, 8);
    }

    #[tokio::test]
    async fn a_taken_port_is_an_error_naming_the_address() {
        let local = v4(158);
        let _rx = RxSocket::bind(local, false).unwrap();
        let err = RxSocket::bind(local, false).unwrap_err();
        assert!(matches!(&err, SocketError::Bind { err, .. } if err.kind() == io::ErrorKind::AddrInUse), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("cannot bind BFD socket to 127.0.0.158:3784: Address already in use"), "{msg}");
    }

    #[test]
    fn rx_needs_no_runtime_and_never_waits() {
        let rx = RxSocket::bind(v4(159), false).unwrap();
        let mut buf = [0u8; 64];
        assert!(rx.try_recv(&mut buf).unwrap().is_none());
    }

    /// All IPv6 cases in one test: [::1]:3784 and [::1]:4784 can be bound once at a time.
    #[tokio::test]
    async fn ipv6_loopback_hop_limit_destination_and_tclass() {
        let local: IpAddr = Ipv6Addr::LOCALHOST.into();
        // No skip without ::1: the IPv6 path would pass untested (the labs need IPv6 too).
        UdpSocket::bind((local, 0)).expect("this test needs ::1 on lo");
        let (rx, tx) = pair(local, false, 50060);
        assert_eq!(rx.local().to_string(), "[::1]:3784");
        let s = socket2::SockRef::from(&tx);
        assert_eq!(s.tclass_v6().unwrap(), u32::from(DSCP_CS6_TOS));
        assert_eq!(s.unicast_hops_v6().unwrap(), 255);
        assert!(s.only_v6().unwrap());
        assert!(tx.send_to(b"v6", rx.local()).unwrap());
        let mut buf = [0u8; 64];
        let d = recv(&rx, &mut buf).await;
        assert_eq!(&buf[..d.len], b"v6");
        assert_eq!(d.src.ip(), local);
        assert_eq!(d.src.port(), tx.local_port());
        assert!(SOURCE_PORTS.contains(&d.src.port()));
        assert_eq!(d.ttl, Some(255));
        assert_eq!(d.dst, Some(local));
        assert!(ttl_acceptable(false, false, d.ttl));

        // Hop limit 254 from a plain socket.
        let plain = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        plain.set_unicast_hops_v6(254).unwrap();
        plain.bind(&SocketAddr::new(local, 0).into()).unwrap();
        plain.send_to(b"far", &rx.local().into()).unwrap();
        let d = recv(&rx, &mut buf).await;
        assert_eq!(d.ttl, Some(254));
        assert!(!ttl_acceptable(false, false, d.ttl));

        // Truncation on IPv6 too.
        assert!(tx.send_to(&[1; 40], rx.local()).unwrap());
        let d = recv(&rx, &mut buf[..4]).await;
        assert!(d.truncated && d.len == 4, "{d:?}");

        // Multihop on [::1]:4784.
        let mh = rx_bind(local, true);
        assert_eq!(mh.local().to_string(), "[::1]:4784");
        assert!(tx.send_to(b"mh6", mh.local()).unwrap());
        let d = recv(&mh, &mut buf).await;
        assert_eq!((&buf[..d.len], d.ttl, d.dst), (&b"mh6"[..], Some(255), Some(local)));
    }
}
