//! The BGP transport: TCP sockets bound to the configured source, TCP-MD5 (RFC 2385, the
//! kernel's `TCP_MD5SIG`) on connecting and listening sockets, GTSM (RFC 5082), multihop TTL,
//! `TCP_NODELAY` and DSCP CS6, as routers mark BGP.
//!
//! This is the only module with `unsafe`: three `setsockopt` calls the socket crates do not
//! wrap (the third probes the kernel for TCP-AO, RFC 5925, which anycastd does not implement).
//! A configured key is never dropped silently: if the kernel refuses it, the caller gets an
//! error naming the peer and the errno, and the neighbor does not start.
#![allow(unsafe_code)]

use crate::types::Md5Key;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// DSCP CS6 (network control) in the IP TOS / traffic class octet.
pub const TOS_CS6: u32 = 0xc0;

/// Per-neighbor socket options. Its `Debug` prints the key as `<redacted>` (through
/// [`Md5Key`]'s own `Debug`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportOpts {
    /// Source address to bind before connecting.
    pub local: Option<IpAddr>,
    /// TCP-MD5 key (RFC 2385); its `Debug` is redacted.
    pub md5_key: Option<Md5Key>,
    /// GTSM (RFC 5082): send with TTL 255 and accept only TTL 255 (one hop).
    pub ttl_security: bool,
    /// TTL for eBGP multihop (default 1 for eBGP is the kernel's 64 here; routers check nothing).
    pub multihop: Option<u8>,
    /// TCP-AO (RFC 5925) as configured. Not implemented: a neighbor with it never starts (see
    /// [`TcpAoSupport`]); its `Debug` is redacted.
    pub tcp_ao: Option<crate::config::TcpAo>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("kernel refused the TCP-MD5 key for {peer}: {err} (is CONFIG_TCP_MD5SIG enabled? the neighbor stays down rather than run unsigned)")]
    Md5Refused { peer: IpAddr, err: io::Error },
    #[error("TCP-MD5 key for {peer} is {len} octets; the kernel accepts 1 to 80 (TCP_MD5SIG_MAXKEYLEN)")]
    Md5KeyLength { peer: IpAddr, len: usize },
    #[error("cannot bind {addr}: {err} (is the address configured on this host?)")]
    Bind { addr: SocketAddr, err: io::Error },
    #[error("{what} failed: {err}")]
    Socket { what: &'static str, err: io::Error },
    #[error("connect to {peer} timed out after {secs} s")]
    Timeout { peer: SocketAddr, secs: u64 },
    #[error("connect to {peer}: {err}")]
    Connect { peer: SocketAddr, err: io::Error },
}

fn so(what: &'static str) -> impl FnOnce(io::Error) -> TransportError {
    move |err| TransportError::Socket { what, err }
}

/// `struct tcp_md5sig` from `<linux/tcp.h>`.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; libc::TCP_MD5SIG_MAXKEYLEN],
}

// The kernel's limit and the type's are the same number.
const _: () = assert!(Md5Key::MAX_LEN == libc::TCP_MD5SIG_MAXKEYLEN);

/// Installs (`Some(key)`) or removes (`None`) the TCP-MD5 key for `peer` on a socket. On a
/// listening socket this is per peer address, so one listener serves every neighbor; adding a
/// key for a peer that has one replaces it in place (no unsigned moment). Only `None` removes:
/// an empty key is refused, never taken for "remove".
pub fn set_md5(fd: RawFd, peer: IpAddr, key: Option<&Md5Key>) -> Result<(), TransportError> {
    let remove = key.is_none();
    let key = key.map(Md5Key::as_bytes).unwrap_or_default();
    if !remove && (key.is_empty() || key.len() > libc::TCP_MD5SIG_MAXKEYLEN) {
        return Err(TransportError::Md5KeyLength { peer, len: key.len() });
    }
    let sa = SockAddr::from(SocketAddr::new(peer, 0));
    // SAFETY: sockaddr_storage and the rest of TcpMd5Sig are plain integers and arrays, for
    // which all-zero bytes are a valid value.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    // SAFETY: `sa.as_ptr()` points to `sa.len()` valid bytes of a socket address, which never
    // exceeds the size of sockaddr_storage; the regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            std::ptr::addr_of_mut!(sig.addr).cast::<u8>(),
            (sa.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
        );
    }
    // An `Md5Key` is at most `Md5Key::MAX_LEN` bytes, so both always fit.
    let (Some(dst), Ok(len)) = (sig.key.get_mut(..key.len()), u16::try_from(key.len())) else {
        return Err(TransportError::Md5KeyLength { peer, len: key.len() });
    };
    dst.copy_from_slice(key);
    sig.keylen = len;
    // SAFETY: `sig` is a live, initialised tcp_md5sig and we pass its exact size; the kernel
    // only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            std::ptr::addr_of!(sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    let err = (rc != 0).then(io::Error::last_os_error);
    // Leave no copy of the key on the stack. The volatile writes are not elided although
    // `sig` is dead after them.
    for b in sig.key.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to a byte of `sig`.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    if let Some(err) = err {
        // Removing a key that is not there is not an error worth reporting.
        if remove && err.raw_os_error() == Some(libc::ENOENT) {
            return Ok(());
        }
        return Err(TransportError::Md5Refused { peer, err });
    }
    Ok(())
}

/// `TCP_AO_ADD_KEY` from `<linux/tcp.h>` (Linux 6.7); not in the libc crate here.
const TCP_AO_ADD_KEY: libc::c_int = 38;
/// `sizeof(struct tcp_ao_add)`: sockaddr_storage, alg_name[64], ifindex, flags, the one-octet
/// fields and key[TCP_AO_MAXKEYLEN], 8-aligned.
const TCP_AO_ADD_LEN: usize = 288;

/// What probing `TCP_AO_ADD_KEY` on a test socket says about the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpAoSupport {
    /// The kernel knows the option (it refused the empty probe key for another reason).
    Kernel,
    /// ENOPROTOOPT: older than 6.7 or built without CONFIG_TCP_AO; the errno's text.
    NotInKernel(String),
    /// The probe could not tell (no socket, an unexpected answer): what happened.
    Unknown(String),
}

impl TcpAoSupport {
    /// The answer of `setsockopt(TCP_AO_ADD_KEY)` with an all-zero `struct tcp_ao_add`: a kernel
    /// with TCP-AO refuses it as invalid (EINVAL and the like) without adding a key; one
    /// without answers ENOPROTOOPT, as for any option it does not know.
    pub fn from_probe(r: &io::Result<()>) -> Self {
        match r {
            Ok(()) => TcpAoSupport::Kernel,
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => TcpAoSupport::NotInKernel(strerror(e)),
            Err(e) if e.raw_os_error().is_some() => TcpAoSupport::Kernel,
            Err(e) => TcpAoSupport::Unknown(e.to_string()),
        }
    }

    /// Why a neighbor with `tcp_ao` does not start, for `check-config`, `status` and the log.
    pub fn refusal(&self) -> String {
        match self {
            TcpAoSupport::NotInKernel(e) => format!(
                "TCP-AO is not supported by this kernel (TCP_AO_ADD_KEY: {e}); use md5 or a kernel ≥ 6.7 built \
                 with CONFIG_TCP_AO"
            ),
            TcpAoSupport::Kernel => "this kernel supports TCP-AO, but anycastd does not implement it yet; use md5 \
                                     (the neighbor never runs with a weaker protection than configured)"
                .to_string(),
            TcpAoSupport::Unknown(e) => format!("cannot tell whether this kernel supports TCP-AO ({e}); use md5"),
        }
    }
}

/// `Protocol not available` rather than `Protocol not available (os error 92)`.
fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

/// Probes the kernel for TCP-AO once per process (on a fresh, unconnected TCP socket, which
/// keeps no key: the probe's all-zero key is refused either way).
pub fn tcp_ao_support() -> &'static TcpAoSupport {
    static PROBED: std::sync::OnceLock<TcpAoSupport> = std::sync::OnceLock::new();
    PROBED.get_or_init(|| match Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)) {
        Ok(sock) => {
            let buf = [0u8; TCP_AO_ADD_LEN];
            // SAFETY: `buf` is a live buffer of exactly the size passed; the kernel only reads it.
            let rc = unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    TCP_AO_ADD_KEY,
                    buf.as_ptr().cast(),
                    TCP_AO_ADD_LEN as libc::socklen_t,
                )
            };
            TcpAoSupport::from_probe(&if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) })
        }
        Err(e) => TcpAoSupport::Unknown(format!("no test socket: {e}")),
    })
}

fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: `v` is a live c_int and we pass its exact size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(v).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// TTL / hop limit, GTSM minimum TTL and DSCP CS6 for one socket.
fn apply_ip_opts(sock: &Socket, v6: bool, opts: &TransportOpts) -> Result<(), TransportError> {
    let ttl = if opts.ttl_security { Some(255) } else { opts.multihop.map(u32::from) };
    if v6 {
        sock.set_tclass_v6(TOS_CS6).map_err(so("IPV6_TCLASS"))?;
        if let Some(t) = ttl {
            sock.set_unicast_hops_v6(t).map_err(so("IPV6_UNICAST_HOPS"))?;
        }
        if opts.ttl_security {
            // RFC 5082 §3: accept only packets that arrive with hop limit 255 (one hop).
            set_int_opt(sock.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, 255)
                .map_err(so("IPV6_MINHOPCOUNT"))?;
        }
    } else {
        sock.set_tos_v4(TOS_CS6).map_err(so("IP_TOS"))?;
        if let Some(t) = ttl {
            sock.set_ttl_v4(t).map_err(so("IP_TTL"))?;
        }
        if opts.ttl_security {
            set_int_opt(sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_MINTTL, 255).map_err(so("IP_MINTTL"))?;
        }
    }
    Ok(())
}

/// Opens a BGP connection to `peer`: bound to `opts.local`, MD5 key installed before the SYN,
/// TTL/GTSM/DSCP set, `TCP_NODELAY` on, `TCP_USER_TIMEOUT` = `user_timeout` (the hold time).
pub async fn connect(
    peer: SocketAddr,
    opts: &TransportOpts,
    timeout: Duration,
    user_timeout: Duration,
) -> Result<TcpStream, TransportError> {
    let v6 = peer.is_ipv6();
    let sock = Socket::new(if v6 { Domain::IPV6 } else { Domain::IPV4 }, Type::STREAM, Some(Protocol::TCP))
        .map_err(so("socket"))?;
    sock.set_nonblocking(true).map_err(so("O_NONBLOCK"))?;
    sock.set_tcp_nodelay(true).map_err(so("TCP_NODELAY"))?;
    sock.set_tcp_user_timeout(Some(user_timeout)).map_err(so("TCP_USER_TIMEOUT"))?;
    if let Some(key) = &opts.md5_key {
        set_md5(sock.as_raw_fd(), peer.ip(), Some(key))?;
    }
    apply_ip_opts(&sock, v6, opts)?;
    if let Some(local) = opts.local {
        let addr = SocketAddr::new(local, 0);
        sock.bind(&addr.into()).map_err(|err| TransportError::Bind { addr, err })?;
    }
    let std_stream: std::net::TcpStream = sock.into();
    let s = TcpSocket::from_std_stream(std_stream);
    match tokio::time::timeout(timeout, s.connect(peer)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) => Err(TransportError::Connect { peer, err }),
        Err(_) => Err(TransportError::Timeout { peer, secs: timeout.as_secs() }),
    }
}

/// A socket for incoming BGP connections on `bind` (port 179 or the configured one): created
/// and bound, **not yet listening**, so MD5 keys ([`set_md5`] on its fd) and GTSM
/// ([`set_listener_gtsm`]) are in place before the first SYN can be answered; then
/// [`start_listening`].
pub fn bind_listener(bind: SocketAddr) -> Result<Socket, TransportError> {
    let v6 = bind.is_ipv6();
    let sock = Socket::new(if v6 { Domain::IPV6 } else { Domain::IPV4 }, Type::STREAM, Some(Protocol::TCP))
        .map_err(so("socket"))?;
    sock.set_reuse_address(true).map_err(so("SO_REUSEADDR"))?;
    if v6 {
        sock.set_only_v6(true).map_err(so("IPV6_V6ONLY"))?;
    }
    sock.set_nonblocking(true).map_err(so("O_NONBLOCK"))?;
    sock.bind(&bind.into()).map_err(|err| TransportError::Bind { addr: bind, err })?;
    Ok(sock)
}

/// `listen()` on a socket from [`bind_listener`] and hands it to tokio (needs a runtime).
pub fn start_listening(sock: Socket) -> Result<TcpListener, TransportError> {
    sock.listen(LISTEN_BACKLOG).map_err(so("listen"))?;
    let std_listener: std::net::TcpListener = sock.into();
    TcpListener::from_std(std_listener).map_err(so("tokio listener"))
}

/// Pending-connection queue of a BGP listener (a handful of configured peers).
const LISTEN_BACKLOG: i32 = 16;

/// [`bind_listener`] and [`start_listening`] in one, for a listener without keys or GTSM.
pub fn listen(bind: SocketAddr) -> Result<TcpListener, TransportError> {
    start_listening(bind_listener(bind)?)
}

/// Options for an accepted connection (the listener's MD5 key already applies to it).
pub fn prepare_accepted(stream: &TcpStream, opts: &TransportOpts) -> Result<(), TransportError> {
    stream.set_nodelay(true).map_err(so("TCP_NODELAY"))?;
    let sock = socket2::SockRef::from(stream);
    let v6 = stream.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    let ttl = if opts.ttl_security { Some(255) } else { opts.multihop.map(u32::from) };
    if v6 {
        sock.set_tclass_v6(TOS_CS6).map_err(so("IPV6_TCLASS"))?;
        if let Some(t) = ttl {
            sock.set_unicast_hops_v6(t).map_err(so("IPV6_UNICAST_HOPS"))?;
        }
    } else {
        sock.set_tos_v4(TOS_CS6).map_err(so("IP_TOS"))?;
        if let Some(t) = ttl {
            sock.set_ttl_v4(t).map_err(so("IP_TTL"))?;
        }
    }
    Ok(())
}

/// `TCP_USER_TIMEOUT` (RFC 5482): the kernel fails the connection once sent octets stay
/// unacknowledged (zero-window probes included) this long; set to the hold time.
pub fn set_user_timeout(stream: &TcpStream, d: Duration) -> Result<(), TransportError> {
    socket2::SockRef::from(stream).set_tcp_user_timeout(Some(d)).map_err(so("TCP_USER_TIMEOUT"))
}

/// GTSM (RFC 5082) on a listening socket, on (`true`) or off: it must be set before the SYN
/// arrives, so it is set on the listener while any neighbor on it asks for it, and cleared
/// when none does any more (it would drop every other multihop neighbor's SYNs). While on, the
/// listener also sends with TTL 255: its SYN-ACK must pass the peer's GTSM check too; off, it
/// is back to the kernel's default TTL.
pub fn set_listener_gtsm(fd: RawFd, v6: bool, on: bool) -> Result<(), TransportError> {
    // -1 is the kernel's "default TTL / hop limit"; MINTTL 0 is "no minimum".
    let (ttl, min) = if on { (255, 255) } else { (-1, 0) };
    if v6 {
        set_int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, ttl).map_err(so("IPV6_UNICAST_HOPS"))?;
        set_int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, min).map_err(so("IPV6_MINHOPCOUNT"))
    } else {
        set_int_opt(fd, libc::IPPROTO_IP, libc::IP_TTL, ttl).map_err(so("IP_TTL"))?;
        set_int_opt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, min).map_err(so("IP_MINTTL"))
    }
}

/// [`set_listener_gtsm`] on for a listener already handed to tokio.
pub fn listener_gtsm(listener: &TcpListener) -> Result<(), TransportError> {
    let v6 = listener.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    set_listener_gtsm(listener.as_raw_fd(), v6, true)
}

/// The GTSM minimum TTL of an accepted connection, set explicitly rather than trusted to be
/// inherited from the listener: 255 for a GTSM neighbor, none otherwise.
pub fn set_accepted_min_ttl(stream: &TcpStream, gtsm: bool) -> Result<(), TransportError> {
    let v6 = stream.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    let min = if gtsm { 255 } else { 0 };
    if v6 {
        set_int_opt(stream.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, min).map_err(so("IPV6_MINHOPCOUNT"))
    } else {
        set_int_opt(stream.as_raw_fd(), libc::IPPROTO_IP, libc::IP_MINTTL, min).map_err(so("IP_MINTTL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn struct_layout_matches_the_kernel() {
        // struct tcp_md5sig in <linux/tcp.h>: field by field, not only the size (swapping two
        // fields of one size would keep it).
        use std::mem::offset_of;
        assert_eq!(offset_of!(TcpMd5Sig, addr), 0);
        assert_eq!(offset_of!(TcpMd5Sig, flags), 128);
        assert_eq!(offset_of!(TcpMd5Sig, prefixlen), 129);
        assert_eq!(offset_of!(TcpMd5Sig, keylen), 130);
        assert_eq!(offset_of!(TcpMd5Sig, ifindex), 132);
        assert_eq!(offset_of!(TcpMd5Sig, key), 136);
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn an_empty_key_is_refused_not_taken_for_remove() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let empty = Md5Key::unchecked_for_test(Vec::new());
        let r = set_md5(s.as_raw_fd(), peer, Some(&empty));
        assert!(matches!(r, Err(TransportError::Md5KeyLength { len: 0, .. })), "{r:?}");
        let long = Md5Key::unchecked_for_test(vec![b'k'; 81]);
        let r = set_md5(s.as_raw_fd(), peer, Some(&long));
        assert!(matches!(r, Err(TransportError::Md5KeyLength { len: 81, .. })), "{r:?}");
        // Removing a key that is not there is fine.
        set_md5(s.as_raw_fd(), peer, None).unwrap();
    }

    #[test]
    fn debug_of_the_options_redacts_the_key() {
        let opts = TransportOpts { md5_key: Some(Md5Key::new("s3cr3t-bgp-key").unwrap()), ..Default::default() };
        let d = format!("{opts:?} {opts:#?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("<redacted>"), "{d}");
    }

    /// M2: a bound listener answers no SYN until `start_listening` (keys and GTSM go on in
    /// between): a connection to it is refused, then accepted.
    #[tokio::test]
    async fn a_bound_listener_does_not_listen_yet() {
        let sock = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = sock.local_addr().unwrap().as_socket().unwrap();
        let r = connect(addr, &TransportOpts::default(), Duration::from_secs(2), Duration::from_secs(90)).await;
        assert!(
            matches!(&r, Err(TransportError::Connect { err, .. }) if err.kind() == io::ErrorKind::ConnectionRefused),
            "{r:?}"
        );
        let l = start_listening(sock).unwrap();
        connect(addr, &TransportOpts::default(), Duration::from_secs(2), Duration::from_secs(90)).await.unwrap();
        drop(l);
    }

    /// GTSM on and off again on a listener: off really clears IP_MINTTL (a plain SYN gets
    /// through again).
    #[tokio::test]
    async fn gtsm_on_a_listener_is_cleared_again() {
        let sock = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        set_listener_gtsm(sock.as_raw_fd(), false, true).unwrap();
        let l = start_listening(sock).unwrap();
        let peer = l.local_addr().unwrap();
        let plain = TransportOpts::default();
        let r = connect(peer, &plain, Duration::from_millis(300), Duration::from_secs(90)).await;
        assert!(matches!(r, Err(TransportError::Timeout { .. })), "{r:?}");
        set_listener_gtsm(l.as_raw_fd(), false, false).unwrap();
        connect(peer, &plain, Duration::from_secs(2), Duration::from_secs(90)).await.unwrap();
    }

    #[test]
    fn the_longest_key_the_type_allows_fits_the_kernel() {
        // An 81-byte key cannot be built (`Md5Key::new` refuses it); 80 is installed as is.
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let longest = Md5Key::new(vec![b'k'; Md5Key::MAX_LEN]).unwrap();
        set_md5(s.as_raw_fd(), "127.0.0.1".parse().unwrap(), Some(&longest)).unwrap();
        set_md5(s.as_raw_fd(), "127.0.0.1".parse().unwrap(), None).unwrap();
    }

    /// GTSM (RFC 5082): a listener with IP_MINTTL 255 accepts a peer sending TTL 255 and never
    /// sees the SYN of one sending the default TTL.
    #[tokio::test]
    async fn gtsm_drops_packets_below_ttl_255() {
        let l = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        listener_gtsm(&l).unwrap();
        let peer = l.local_addr().unwrap();
        let gtsm = TransportOpts { ttl_security: true, ..Default::default() };
        let accept = tokio::spawn(async move {
            let r = l.accept().await.map(|_| ());
            (r, l)
        });
        connect(peer, &gtsm, Duration::from_secs(2), Duration::from_secs(90)).await.unwrap();
        let (r, _l) = accept.await.unwrap();
        r.unwrap();
        let plain = TransportOpts::default();
        let r = connect(peer, &plain, Duration::from_millis(700), Duration::from_secs(90)).await;
        assert!(matches!(r, Err(TransportError::Timeout { .. })), "{r:?}");
    }

    /// Over loopback: matching keys connect and carry data; a missing key on the connecting
    /// side never completes the handshake (the kernel drops unsigned SYNs for a keyed peer).
    #[tokio::test]
    async fn md5_keys_gate_the_handshake() {
        let l = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = l.local_addr().unwrap().port();
        set_md5(l.as_raw_fd(), "127.0.0.1".parse().unwrap(), Some(&Md5Key::new("anycast-lab-key").unwrap())).unwrap();
        let peer: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let opts = TransportOpts { md5_key: Some(Md5Key::new("anycast-lab-key").unwrap()), ..Default::default() };
        let accept = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 5];
            s.read_exact(&mut b).await.unwrap();
            (b, l)
        });
        let mut c = connect(peer, &opts, Duration::from_secs(2), Duration::from_secs(90)).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let (got, l) = accept.await.unwrap();
        assert_eq!(&got, b"hello");
        // Unsigned connect to a keyed listener: no handshake.
        let r = connect(peer, &TransportOpts::default(), Duration::from_millis(700), Duration::from_secs(90)).await;
        assert!(matches!(r, Err(TransportError::Timeout { .. })), "{r:?}");
        // Wrong key: no handshake either.
        let wrong = TransportOpts { md5_key: Some(Md5Key::new("wrong-key").unwrap()), ..Default::default() };
        let r = connect(peer, &wrong, Duration::from_millis(700), Duration::from_secs(90)).await;
        assert!(matches!(r, Err(TransportError::Timeout { .. })), "{r:?}");
        drop(l);
    }

    /// A key removed from a listener (`None`) is gone from the kernel: an unsigned peer
    /// connects afterwards, as after a reload that drops the neighbor's key.
    #[tokio::test]
    async fn a_removed_listener_key_admits_unsigned_connections() {
        let l = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let peer: SocketAddr = format!("127.0.0.1:{}", l.local_addr().unwrap().port()).parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        set_md5(l.as_raw_fd(), lo, Some(&Md5Key::new("anycast-lab-key").unwrap())).unwrap();
        let r = connect(peer, &TransportOpts::default(), Duration::from_millis(500), Duration::from_secs(90)).await;
        assert!(matches!(r, Err(TransportError::Timeout { .. })), "{r:?}");
        set_md5(l.as_raw_fd(), lo, None).unwrap();
        // Removing it twice is not an error (ENOENT).
        set_md5(l.as_raw_fd(), lo, None).unwrap();
        let accept = tokio::spawn(async move { l.accept().await.map(|_| ()) });
        connect(peer, &TransportOpts::default(), Duration::from_secs(2), Duration::from_secs(90)).await.unwrap();
        accept.await.unwrap().unwrap();
    }

    #[test]
    fn tcp_ao_probe_results_map_to_their_reasons() {
        let enoprotoopt = Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT));
        let not = TcpAoSupport::from_probe(&enoprotoopt);
        assert_eq!(not, TcpAoSupport::NotInKernel("Protocol not available".into()));
        assert_eq!(
            not.refusal(),
            "TCP-AO is not supported by this kernel (TCP_AO_ADD_KEY: Protocol not available); use md5 or a \
             kernel ≥ 6.7 built with CONFIG_TCP_AO"
        );
        // A kernel with TCP-AO refuses the all-zero probe as invalid: it knows the option.
        let known = TcpAoSupport::from_probe(&Err(io::Error::from_raw_os_error(libc::EINVAL)));
        assert_eq!(known, TcpAoSupport::Kernel);
        assert!(known.refusal().contains("anycastd does not implement it yet; use md5"), "{}", known.refusal());
        assert_eq!(TcpAoSupport::from_probe(&Ok(())), TcpAoSupport::Kernel);
        let odd = TcpAoSupport::from_probe(&Err(io::Error::other("no errno")));
        assert!(matches!(odd, TcpAoSupport::Unknown(_)) && odd.refusal().starts_with("cannot tell"), "{odd:?}");
        // This machine's answer, whatever it is, is one of the three and stable.
        assert_eq!(tcp_ao_support(), tcp_ao_support());
    }
}
