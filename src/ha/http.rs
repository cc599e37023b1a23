//! `http` checks: a minimal HTTP/1.1 GET over TCP, or over TLS for `https://` (rustls with the
//! ring provider), that reads the status line and, when the check names a `body`, the body up
//! to [`BODY_LIMIT`] bytes. The whole check, connect and handshake included, is bounded by the
//! check's timeout (the caller's `tokio::time::timeout`).
//!
//! TLS always verifies the server: its certificate must chain to `ca` (a PEM file of at most
//! [`CA_FILE_LIMIT`] bytes, read at each check so a rotated CA is picked up) or, without `ca`,
//! to the system roots, and be valid for `url.host` (an IP host must be in an IP SAN). There is
//! no way to turn verification off, and no fallback to unverified TLS when it fails. The system
//! roots come from the host's own store (rustls-native-certs: `/etc/ssl/certs`, kept by the
//! distribution's ca-certificates and `update-ca-certificates`, or `SSL_CERT_FILE`), loaded once
//! per process: an operator's private CA added there is trusted, and a root the distribution
//! removes is no longer trusted after a restart, neither of which a compiled-in list would do.
//!
//! Everything the server sends reaches `detail` escaped ([`text::escape_at_most`]).

use super::probe::{first_line, io_msg, DETAIL_CHARS};
use crate::config::HttpUrl;
use crate::wire::text;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest HTTP status line read.
const STATUS_LINE_LIMIT: usize = 1024;
/// Longest header section (status line included) read when the body is needed.
const HEADER_LIMIT: usize = 16 * 1024;
/// Body bytes searched for the check's `body`; the rest is not read.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Largest `ca` file read.
pub const CA_FILE_LIMIT: u64 = 1024 * 1024;
/// Characters of the body shown when it lacks the expected text.
const BODY_SHOWN: usize = 60;

/// The URL as shown in details: `http://127.0.0.1:8080/health`.
pub fn show_url(u: &HttpUrl) -> String {
    let scheme = if u.tls { "https" } else { "http" };
    format!("{scheme}://{}{}", host_port(u), u.path)
}

/// `host:port`, an IPv6 host in brackets: the URL's authority and the `Host` header's value.
pub fn host_port(u: &HttpUrl) -> String {
    if u.host.contains(':') {
        format!("[{}]:{}", u.host, u.port)
    } else {
        format!("{}:{}", u.host, u.port)
    }
}

/// GETs `url`; healthy when the status is in `status` and, with `body`, the first
/// [`BODY_LIMIT`] bytes of the body contain it. Not bounded in time by itself: the caller
/// wraps it in the check's timeout.
pub async fn check(
    url: &HttpUrl,
    status: &RangeInclusive<u16>,
    body: Option<&str>,
    ca: Option<&Path>,
) -> (bool, String) {
    match get(url, body.is_some(), ca).await {
        Err(e) => (false, e),
        Ok(r) if !status.contains(&r.code) => {
            (false, format!("{} (expected {}-{})", r.line, status.start(), status.end()))
        }
        Ok(r) => match body {
            None => (true, r.line),
            Some(want) if contains(&r.body, want.as_bytes()) => (true, r.line),
            Some(want) => {
                let want = text::escape_at_most(want.as_bytes(), BODY_SHOWN);
                let got = match r.body.trim_ascii() {
                    [] => "the body is empty".to_string(),
                    b => format!("it starts \"{}\"", text::escape_at_most(b, BODY_SHOWN)),
                };
                (false, format!("{} but the body lacks \"{want}\" ({got})", r.line))
            }
        },
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// What a GET got: the status code, "HTTP 200 OK", and (when asked for) the body's first
/// [`BODY_LIMIT`] bytes.
struct Response {
    code: u16,
    line: String,
    body: Vec<u8>,
}

/// [`fetch`], its errors prefixed with "GET <url>: ".
async fn get(url: &HttpUrl, want_body: bool, ca: Option<&Path>) -> Result<Response, String> {
    fetch(url, want_body, ca).await.map_err(|e| format!("GET {}: {e}", show_url(url)))
}

async fn fetch(url: &HttpUrl, want_body: bool, ca: Option<&Path>) -> Result<Response, String> {
    let fail = |what: &str, e: std::io::Error| format!("{what}: {}", io_msg(&e));
    // The TLS setup (and the CA file) before connecting: a bad `ca` is reported as such.
    let tls = match url.tls {
        true => Some(client_config(ca).await?),
        false => None,
    };
    let tcp = TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| fail("connect", e))?;
    match tls {
        None => exchange(tcp, url, want_body).await,
        Some(config) => {
            let name = ServerName::try_from(url.host.clone())
                .map_err(|_| format!("\"{}\" is not a valid TLS server name", text::escape(url.host.as_bytes())))?;
            let s = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| fail("TLS", e))?;
            exchange(s, url, want_body).await
        }
    }
}

/// Sends the GET on `s` and reads the answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    url: &HttpUrl,
    want_body: bool,
) -> Result<Response, String> {
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: anycastd\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        host_port(url)
    );
    s.write_all(req.as_bytes()).await.map_err(|e| format!("send: {}", io_msg(&e)))?;
    s.flush().await.map_err(|e| format!("send: {}", io_msg(&e)))?;
    let mut buf = Vec::with_capacity(512);
    let mut reader = Reader { s, eof: false };
    // The status line.
    while !buf.contains(&b'\n') && buf.len() < STATUS_LINE_LIMIT && reader.more(&mut buf).await? {}
    let (code, line) = parse_status_line(&buf).ok_or_else(|| {
        let got = first_line(&buf).unwrap_or_else(|| "nothing".into());
        format!("not an HTTP/1.x status line: \"{got}\"")
    })?;
    if !want_body {
        return Ok(Response { code, line, body: Vec::new() });
    }
    // The headers.
    let body_at = loop {
        if let Some(at) = header_end(&buf) {
            break at;
        }
        if buf.len() >= HEADER_LIMIT {
            return Err(format!("{line}: headers longer than {} KiB", HEADER_LIMIT / 1024));
        }
        if !reader.more(&mut buf).await? {
            return Err(format!("{line}: the connection closed within the headers"));
        }
    };
    let length = content_length(buf.get(..body_at).unwrap_or_default());
    let want = length.map_or(BODY_LIMIT, |n| n.min(BODY_LIMIT));
    // The body: Content-Length bytes, or up to the close (a chunked body is read as it comes,
    // chunk sizes included), never more than BODY_LIMIT.
    while buf.len().saturating_sub(body_at) < want && reader.more(&mut buf).await? {}
    let body = buf.get(body_at..).unwrap_or_default();
    let body = body.get(..want.min(body.len())).unwrap_or_default().to_vec();
    Ok(Response { code, line, body })
}

/// Reads a stream in chunks, EOF sticky.
struct Reader<S> {
    s: S,
    eof: bool,
}

impl<S: AsyncRead + Unpin> Reader<S> {
    /// Appends what arrives; false at EOF. A TLS peer that closes without close_notify ends
    /// the stream too (the body could only be shorter, never hold text it lacked).
    async fn more(&mut self, buf: &mut Vec<u8>) -> Result<bool, String> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 4096];
        match self.s.read(&mut chunk).await {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.eof = true;
                Ok(false)
            }
            Err(e) => Err(format!("read: {}", io_msg(&e))),
        }
    }
}

/// Where the body starts: after the first empty line ("\r\n\r\n", or a bare "\n\n").
fn header_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The Content-Length header's value, when there is one well-formed one.
fn content_length(headers: &[u8]) -> Option<usize> {
    headers.split(|&b| b == b'\n').skip(1).find_map(|l| {
        let (name, value) = l.split_at(l.iter().position(|&b| b == b':')?);
        if !name.trim_ascii().eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(value.get(1..)?).ok()?.trim().parse().ok()
    })
}

/// Parses "HTTP/1.x NNN reason" at the start of `buf`.
pub fn parse_status_line(buf: &[u8]) -> Option<(u16, String)> {
    let end = buf.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(buf.get(..end)?).ok()?.trim_end_matches('\r');
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let _minor = parts.next().filter(|m| m.len() == 1 && m.bytes().all(|b| b.is_ascii_digit()))?;
    let code = parts.next().filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))?;
    let reason = text::escape_at_most(parts.next().unwrap_or("").trim().as_bytes(), DETAIL_CHARS);
    let n = code.parse().ok()?;
    let shown = if reason.is_empty() { format!("HTTP {n}") } else { format!("HTTP {n} {reason}") };
    Some((n, shown))
}

/// A client config trusting `ca`'s certificates, or the system roots.
async fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    verifying_config(ca, None).await
}

/// A client certificate chain and its key, for [`verifying_config`].
pub type ClientAuth = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A verifying client config (ring provider) trusting `ca`'s certificates or the system
/// roots, presenting `client` when given. There is no unverified variant.
pub async fn verifying_config(ca: Option<&Path>, client: Option<ClientAuth>) -> Result<Arc<ClientConfig>, String> {
    let roots = match ca {
        Some(path) => Arc::new(ca_roots(path).await?),
        None => system_roots().await?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("TLS client certificate: {e}"))?
        }
    };
    Ok(Arc::new(config))
}

/// The file at `path` (a PEM file: at most [`CA_FILE_LIMIT`] bytes); errors start with `what`
/// and the path.
pub async fn read_pem_file(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    let p = path.display();
    let file = tokio::fs::File::open(path).await.map_err(|e| format!("{what} {p}: {}", io_msg(&e)))?;
    let mut pem = Vec::new();
    file.take(CA_FILE_LIMIT + 1).read_to_end(&mut pem).await.map_err(|e| format!("{what} {p}: {}", io_msg(&e)))?;
    if pem.len() as u64 > CA_FILE_LIMIT {
        return Err(format!("{what} {p}: larger than {} KiB", CA_FILE_LIMIT / 1024));
    }
    Ok(pem)
}

/// The certificates of the PEM file at `path` (at most [`CA_FILE_LIMIT`] bytes).
async fn ca_roots(path: &Path) -> Result<RootCertStore, String> {
    let pem = read_pem_file("ca", path).await?;
    roots_from_pem(&pem).map_err(|e| format!("ca {}: {e}", path.display()))
}

/// A root store of every certificate in `pem`; an error when one is malformed or none is
/// there.
pub fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate file: {e}"))?;
        roots.add(cert).map_err(|e| format!("unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no certificate in the file (expected PEM \"BEGIN CERTIFICATE\" blocks)".into());
    }
    Ok(roots)
}

/// The system's trusted roots, loaded once (off the async threads: it reads a few hundred KB).
async fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    if let Some(r) = ROOTS.get() {
        return r.clone();
    }
    let loaded = tokio::task::spawn_blocking(load_system_roots).await.unwrap_or_else(|e| Err(e.to_string()));
    ROOTS.get_or_init(|| loaded).clone()
}

fn load_system_roots() -> Result<Arc<RootCertStore>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (_added, _unusable) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found.errors.first().map(|e| format!(": {e}")).unwrap_or_default();
        return Err(format!("no system root certificates (install ca-certificates, or set `ca`){why}"));
    }
    Ok(Arc::new(roots))
}
