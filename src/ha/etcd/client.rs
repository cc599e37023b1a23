//! etcd gateway client (HTTP edge): one short HTTP/1.1 connection per request
//! (`Connection: close`), plain or TLS (rustls, always verifying; a client certificate when
//! `cert`/`key` are set), to etcd's JSON gateway.
//!
//! Time: every method but [`Client::campaign`] and [`Watch::next`] is bounded by
//! `conn.timeout` as a whole, connect, TLS, authentication and failover included. Failover:
//! the endpoints are tried in order starting with the last one that answered; one that is
//! unreachable, answers junk, or says it cannot serve now ("no leader", unavailable) gives way
//! to the next within the same call. Each attempt gets an equal share of the time left
//! (left / endpoints not yet tried), so a black-holed first endpoint leaves the others time.
//!
//! Auth: with `username` and `password_file`, the client authenticates once (the file is read
//! then) and sends the token as `Authorization`; an "invalid auth token" answer makes it
//! authenticate again and retry once.
//!
//! Memory: a response head is at most 16 KiB, a body (or one watch message) at most
//! [`BODY_LIMIT`]; more is an error.

use super::api::{self, Kv, LeaderKey, Lease, ReplyError, ServerError, WatchEvent};
use super::client_http::{self, Chunked, Framing, Head};
use crate::config::{EtcdConn, HttpUrl};
use crate::ha::http::{host_port, read_pem_file, show_url, verifying_config};
use crate::ha::probe::io_msg;
use crate::wire::text;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::ClientConfig;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Largest response body, or watch message, read.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Largest password file read.
const PASSWORD_LIMIT: u64 = 4096;

/// What kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No usable answer: connect refused or timed out, TLS failed, the connection broke, or
    /// the whole call's time ran out.
    Unreachable,
    /// etcd answered an error (lease not found, auth failed, ...), with its gRPC code when it
    /// sent one.
    Server { code: Option<i64> },
    /// Something answered, but not as etcd does (not HTTP, not JSON, too large).
    Garbled,
    /// Our side: the TLS files or the password file could not be used.
    Local,
}

/// A failed call: what went wrong, where, and what kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// The endpoint (`http://127.0.0.1:2379/`), when the error is about one.
    pub endpoint: Option<String>,
    /// In words (anything from the server escaped and cut).
    pub what: String,
    /// What etcd answered, for the failover and re-authentication rules.
    server: Option<ServerError>,
}

impl Error {
    fn new(kind: ErrorKind, endpoint: Option<&HttpUrl>, what: impl Into<String>) -> Error {
        Error { kind, endpoint: endpoint.map(show_url), what: what.into(), server: None }
    }

    fn reply(endpoint: &HttpUrl, e: ReplyError) -> Error {
        let kind = match &e {
            ReplyError::Server(s) => ErrorKind::Server { code: s.code },
            ReplyError::Garbled(_) => ErrorKind::Garbled,
        };
        let what = e.to_string();
        let server = match e {
            ReplyError::Server(s) => Some(s),
            ReplyError::Garbled(_) => None,
        };
        Error { server, ..Error::new(kind, Some(endpoint), what) }
    }

    /// What etcd answered, when this is its error.
    pub fn server(&self) -> Option<&ServerError> {
        self.server.as_ref()
    }

    /// A transport failure (no answer from etcd).
    pub fn is_unreachable(&self) -> bool {
        self.kind == ErrorKind::Unreachable
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.endpoint {
            Some(e) => write!(f, "{e}: {}", self.what),
            None => write!(f, "{}", self.what),
        }
    }
}

impl std::error::Error for Error {}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug, Default)]
struct State {
    /// The endpoint tried first.
    first: usize,
    /// The one that last answered.
    answered: Option<usize>,
    token: Option<String>,
}

/// A client of one etcd cluster. Cheap to share (`&self` methods; calls may run at once).
pub struct Client {
    conn: EtcdConn,
    state: Mutex<State>,
    /// Built at the first TLS connection, dropped after a TLS failure (the files are read
    /// again then).
    tls: tokio::sync::Mutex<Option<Arc<ClientConfig>>>,
}

impl Client {
    pub fn new(conn: &EtcdConn) -> Client {
        Client { conn: conn.clone(), state: Mutex::new(State::default()), tls: tokio::sync::Mutex::new(None) }
    }

    /// The endpoint that last answered (`http://127.0.0.1:2379/`).
    pub fn last_endpoint(&self) -> Option<String> {
        let i = self.state.lock().ok()?.answered?;
        self.conn.endpoints.get(i).map(show_url)
    }

    /// A lease of `ttl_secs` (etcd raises it to at least 2 s).
    pub async fn grant(&self, ttl_secs: i64) -> Result<Lease, Error> {
        self.unary("/v3/lease/grant", &api::grant_body(ttl_secs), api::parse_grant).await
    }

    /// Refreshes lease `id`: its new TTL in seconds, 0 when the lease is gone.
    pub async fn keep_alive(&self, id: i64) -> Result<i64, Error> {
        self.unary("/v3/lease/keepalive", &api::lease_id_body(id), api::parse_keep_alive).await
    }

    /// Revokes lease `id` (its keys are deleted). A lease already gone is no error.
    pub async fn revoke(&self, id: i64) -> Result<(), Error> {
        match self.unary("/v3/lease/revoke", &api::lease_id_body(id), |_| Ok(())).await {
            Err(e) if e.server().is_some_and(ServerError::lease_not_found) => Ok(()),
            r => r,
        }
    }

    /// Seconds lease `id` has left, -1 when it is gone.
    pub async fn time_to_live(&self, id: i64) -> Result<i64, Error> {
        self.unary("/v3/lease/timetolive", &api::lease_id_body(id), api::parse_time_to_live).await
    }

    /// Campaigns in `election` with `value` under `lease`; returns once we lead. Not bounded
    /// in time (only each endpoint's connect, TLS and authentication are, by `conn.timeout`):
    /// drop the future to give up, which closes its connection (etcd then withdraws the
    /// candidacy).
    pub async fn campaign(&self, election: &[u8], lease: i64, value: &[u8]) -> Result<LeaderKey, Error> {
        let body = &api::campaign_body(election, lease, value);
        self.failover(false, |i, until| async move {
            let url = self.url(i)?;
            let token = bounded(until, url, self.token(i, until)).await?;
            let mut io = bounded(until, url, self.open(url)).await?;
            bounded(until, url, send(&mut io, url, "/v3/election/campaign", body, token.as_deref())).await?;
            // Then as long as it takes.
            let (status, answer) = read_response(&mut io, url).await?;
            self.answered(i);
            let v = api::reply(status, &answer).map_err(|e| Error::reply(url, e))?;
            api::parse_campaign(&v).map_err(|e| Error::reply(url, e))
        })
        .await
    }

    /// Who leads `election`: the leader's key and value, `None` when no one does.
    pub async fn leader(&self, election: &[u8]) -> Result<Option<Kv>, Error> {
        let body = &api::leader_body(election);
        self.failover(true, |i, until| async move {
            let (url, answer) = self.exchange(i, until, "/v3/election/leader", body).await?;
            match answer {
                Ok(v) => api::parse_leader(&v).map(Some).map_err(|e| Error::reply(url, e)),
                Err(ReplyError::Server(s)) if s.no_leader_elected() => Ok(None),
                Err(e) => Err(Error::reply(url, e)),
            }
        })
        .await
    }

    /// Gives up leadership (the leader key is deleted; the lease stays). Resigning a key that
    /// is gone is no error (etcd says nothing).
    pub async fn resign(&self, leader: &LeaderKey) -> Result<(), Error> {
        self.unary("/v3/election/resign", &api::resign_body(leader), |_| Ok(())).await
    }

    /// `key` (when set) and the cluster's revision.
    pub async fn get(&self, key: &[u8]) -> Result<(Option<Kv>, i64), Error> {
        self.unary("/v3/kv/range", &api::range_body(key), api::parse_range).await
    }

    /// Sets `key` to `value` (under `lease` unless 0): the revision of the change.
    pub async fn put(&self, key: &[u8], value: &[u8], lease: i64) -> Result<i64, Error> {
        self.unary("/v3/kv/put", &api::put_body(key, value, lease), api::header_revision).await
    }

    /// Deletes `key`: the cluster's revision after.
    pub async fn delete(&self, key: &[u8]) -> Result<i64, Error> {
        self.unary("/v3/kv/deleterange", &api::delete_body(key), api::header_revision).await
    }

    /// Watches `key` from `start_revision` (0: from now). Returns once etcd has created the
    /// watch (bounded by `conn.timeout`, failover included); [`Watch::next`] then waits.
    pub async fn watch(&self, key: &[u8], start_revision: i64) -> Result<Watch, Error> {
        let body = &api::watch_body(key, start_revision);
        self.failover(true, |i, until| async move {
            let url = self.url(i)?;
            let token = self.token(i, until).await?;
            let mut io = self.open(url).await?;
            send(&mut io, url, "/v3/watch", body, token.as_deref()).await?;
            let (head, rest) = read_head(&mut io, url).await?;
            self.answered(i);
            if head.status != 200 {
                let (status, answer) = read_body(&mut io, url, head, rest).await?;
                return Err(match api::reply(status, &answer) {
                    Err(e) => Error::reply(url, e),
                    Ok(_) => garbled(url, format!("watch answered HTTP {status}")),
                });
            }
            // A stream's error (a bad token) comes inside the 200 answer.
            let mut w = Watch::start(io, url, head, rest);
            let first = w.message().await?;
            if !first.created {
                return Err(garbled(url, "the watch's first message is not \"created\""));
            }
            w.pending = first.events;
            Ok(w)
        })
        .await
    }

    // ---- the machinery ----

    /// The k-th endpoint to try, starting with the first.
    fn start_at(&self, k: usize) -> usize {
        let n = self.conn.endpoints.len().max(1);
        let first = self.state.lock().map(|s| s.first).unwrap_or(0);
        (first + k) % n
    }

    fn answered(&self, i: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.first = i;
            s.answered = Some(i);
        }
    }

    fn forget_token(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.token = None;
        }
    }

    fn url(&self, i: usize) -> Result<&HttpUrl, Error> {
        self.conn.endpoints.get(i).ok_or_else(|| Error::new(ErrorKind::Local, None, "no etcd endpoints"))
    }

    fn timed_out(&self, i: usize) -> Error {
        let ms = self.conn.timeout.as_millis();
        Error::new(
            ErrorKind::Unreachable,
            self.conn.endpoints.get(i),
            format!("no answer in time (request timeout {ms} ms)"),
        )
    }

    /// A call whose answer `parse` reads.
    async fn unary<T>(
        &self,
        path: &str,
        body: &[u8],
        parse: impl Fn(&Value) -> Result<T, ReplyError>,
    ) -> Result<T, Error> {
        let parse = &parse;
        self.failover(true, |i, until| async move {
            let (url, answer) = self.exchange(i, until, path, body).await?;
            let v = answer.map_err(|e| Error::reply(url, e))?;
            parse(&v).map_err(|e| Error::reply(url, e))
        })
        .await
    }

    /// POSTs `body` to `path` at endpoint `i`: the endpoint and its answer (a JSON object, or
    /// the error etcd sent).
    async fn exchange(
        &self,
        i: usize,
        until: Instant,
        path: &str,
        body: &[u8],
    ) -> Result<(&HttpUrl, Result<Value, ReplyError>), Error> {
        let url = self.url(i)?;
        let token = self.token(i, until).await?;
        let (status, answer) = self.post(url, path, body, token.as_deref()).await?;
        self.answered(i);
        Ok((url, api::reply(status, &answer)))
    }

    /// Runs `attempt(endpoint index, its deadline)` on the endpoints in turn, starting with
    /// the last one that answered, until one gives an answer that is not "try another"
    /// (unreachable, junk, no raft leader, unavailable); after an invalid-token answer, once
    /// more on the same endpoint with a new token. `bounded`: the whole run within
    /// `conn.timeout`, each attempt an equal share of the time left; otherwise each attempt
    /// gets `conn.timeout` for what it bounds itself (a campaign's connect) and no more limit.
    async fn failover<T, F, Fut>(&self, bounded: bool, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut(usize, Instant) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let deadline = Instant::now() + self.conn.timeout;
        let n = self.conn.endpoints.len();
        let mut last = Error::new(ErrorKind::Local, None, "no etcd endpoints");
        let mut retried = false;
        let mut k = 0;
        while k < n {
            let i = self.start_at(k);
            let r = match bounded {
                true => {
                    let until = slice(deadline, n - k);
                    tokio::time::timeout_at(until, attempt(i, until)).await.unwrap_or_else(|_| Err(self.timed_out(i)))
                }
                false => attempt(i, Instant::now() + self.conn.timeout).await,
            };
            let e = match r {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            match (e.kind, e.server()) {
                (ErrorKind::Local, _) => return Err(e),
                (_, Some(s)) if s.bad_token() && self.conn.username.is_some() && !retried => {
                    self.forget_token();
                    retried = true;
                    continue;
                }
                (_, Some(s)) if !s.try_another() => return Err(e),
                _ => last = e,
            }
            k += 1;
        }
        Err(last)
    }

    /// The auth token for endpoint `i` (authenticating there when there is none yet), or
    /// `None` without auth.
    async fn token(&self, i: usize, until: Instant) -> Result<Option<String>, Error> {
        let (Some(user), Some(file)) = (&self.conn.username, &self.conn.password_file) else {
            return Ok(None);
        };
        if let Some(t) = self.state.lock().ok().and_then(|s| s.token.clone()) {
            return Ok(Some(t));
        }
        let url = self.url(i)?;
        let password = read_password(file).await?;
        let body = api::authenticate_body(user, &password);
        let r = tokio::time::timeout_at(until, self.post(url, "/v3/auth/authenticate", &body, None)).await;
        let (status, answer) = r.map_err(|_| self.timed_out(i))??;
        let token = api::reply(status, &answer)
            .and_then(|v| api::parse_token(&v))
            .map_err(|e| Error::reply(url, e))
            .map_err(|mut e| {
                e.what = format!("authenticate as \"{}\": {}", text::escape_at_most(user.as_bytes(), 60), e.what);
                e
            })?;
        if let Ok(mut s) = self.state.lock() {
            s.token = Some(token.clone());
        }
        Ok(Some(token))
    }

    /// One request and its whole answer.
    async fn post(&self, url: &HttpUrl, path: &str, body: &[u8], token: Option<&str>) -> Result<(u16, Vec<u8>), Error> {
        let mut io = self.open(url).await?;
        send(&mut io, url, path, body, token).await?;
        read_response(&mut io, url).await
    }

    /// A connection to `url`, TLS for `https`.
    async fn open(&self, url: &HttpUrl) -> Result<Box<dyn Io>, Error> {
        let unreachable = |what: &str, e: std::io::Error| {
            Error::new(ErrorKind::Unreachable, Some(url), format!("{what}: {}", io_msg(&e)))
        };
        let config = match url.tls {
            true => Some(self.tls_config().await?),
            false => None,
        };
        let tcp = TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| unreachable("connect", e))?;
        let _ = tcp.set_nodelay(true);
        let Some(config) = config else {
            return Ok(Box::new(tcp));
        };
        let name = ServerName::try_from(url.host.clone()).map_err(|_| {
            Error::new(
                ErrorKind::Local,
                Some(url),
                format!("\"{}\" is not a valid TLS server name", text::escape(url.host.as_bytes())),
            )
        })?;
        match tokio_rustls::TlsConnector::from(config).connect(name, tcp).await {
            Ok(s) => Ok(Box::new(s)),
            Err(e) => {
                // Read the files again next time (a rotated CA or certificate).
                *self.tls.lock().await = None;
                Err(unreachable("TLS", e))
            }
        }
    }

    async fn tls_config(&self) -> Result<Arc<ClientConfig>, Error> {
        let mut cached = self.tls.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let local = |e: String| Error::new(ErrorKind::Local, None, e);
        let client = match (&self.conn.cert, &self.conn.key) {
            (Some(cert), Some(key)) => {
                let pem = read_pem_file("cert", cert).await.map_err(local)?;
                let chain = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| local(format!("cert {}: not a PEM certificate file: {e}", cert.display())))?;
                if chain.is_empty() {
                    return Err(local(format!("cert {}: no certificate in the file", cert.display())));
                }
                let pem = read_pem_file("key", key).await.map_err(local)?;
                let key = PrivateKeyDer::from_pem_slice(&pem)
                    .map_err(|e| local(format!("key {}: not a PEM private key: {e}", key.display())))?;
                Some((chain, key))
            }
            _ => None,
        };
        let config = verifying_config(self.conn.ca.as_deref(), client).await.map_err(local)?;
        *cached = Some(config.clone());
        Ok(config)
    }
}

/// The deadline of the next attempt: an equal share of what is left among `left` endpoints.
fn slice(deadline: Instant, left: usize) -> Instant {
    let now = Instant::now();
    let share = deadline.saturating_duration_since(now) / u32::try_from(left.max(1)).unwrap_or(u32::MAX);
    now + share
}

/// `f`, or an Unreachable error at `deadline`.
async fn bounded<T>(
    deadline: Instant,
    url: &HttpUrl,
    f: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout_at(deadline, f).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(ErrorKind::Unreachable, Some(url), "no answer in time (request timeout)")),
    }
}

/// The password: the file's first line, at most [`PASSWORD_LIMIT`] bytes.
async fn read_password(path: &std::path::Path) -> Result<String, Error> {
    let p = path.display();
    let local = |e: String| Error::new(ErrorKind::Local, None, e);
    let file = tokio::fs::File::open(path).await.map_err(|e| local(format!("password_file {p}: {}", io_msg(&e))))?;
    let mut raw = Vec::new();
    file.take(PASSWORD_LIMIT + 1)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| local(format!("password_file {p}: {}", io_msg(&e))))?;
    if raw.len() as u64 > PASSWORD_LIMIT {
        return Err(local(format!("password_file {p}: larger than {PASSWORD_LIMIT} bytes")));
    }
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8(line.to_vec()).map_err(|_| local(format!("password_file {p}: not UTF-8")))
}

async fn send(io: &mut Box<dyn Io>, url: &HttpUrl, path: &str, body: &[u8], token: Option<&str>) -> Result<(), Error> {
    let req = client_http::request(&host_port(url), path, body, token);
    let fail = |e: std::io::Error| Error::new(ErrorKind::Unreachable, Some(url), format!("send: {}", io_msg(&e)));
    io.write_all(&req).await.map_err(fail)?;
    io.flush().await.map_err(fail)
}

/// Reads more into `buf`; false at EOF (a TLS close without close_notify too).
async fn more(io: &mut Box<dyn Io>, url: &HttpUrl, buf: &mut Vec<u8>) -> Result<bool, Error> {
    let mut chunk = [0u8; 8192];
    match io.read(&mut chunk).await {
        Ok(0) => Ok(false),
        Ok(n) => {
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::new(ErrorKind::Unreachable, Some(url), format!("read: {}", io_msg(&e)))),
    }
}

fn garbled(url: &HttpUrl, what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Garbled, Some(url), what)
}

/// The head, and the bytes read after it.
async fn read_head(io: &mut Box<dyn Io>, url: &HttpUrl) -> Result<(Head, Vec<u8>), Error> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if let Some(head) = client_http::parse_head(&buf).map_err(|e| garbled(url, e))? {
            let rest = buf.split_off(head.body_at.min(buf.len()));
            return Ok((head, rest));
        }
        if !more(io, url, &mut buf).await? {
            let what = match buf.is_empty() {
                true => "the connection closed with no answer".to_string(),
                false => {
                    format!("the connection closed within the answer's head (\"{}\")", text::escape_at_most(&buf, 60))
                }
            };
            return Err(Error::new(ErrorKind::Unreachable, Some(url), what));
        }
    }
}

/// The status and body after `head` (`rest`: body bytes already read).
async fn read_body(
    io: &mut Box<dyn Io>,
    url: &HttpUrl,
    head: Head,
    mut rest: Vec<u8>,
) -> Result<(u16, Vec<u8>), Error> {
    let too_large = || garbled(url, format!("{}: a body larger than {} KiB", head.line, BODY_LIMIT / 1024));
    let closed = || {
        Error::new(ErrorKind::Unreachable, Some(url), format!("{}: the connection closed within the body", head.line))
    };
    match head.framing {
        Framing::Length(n) if n > BODY_LIMIT => Err(too_large()),
        Framing::Length(n) => {
            while rest.len() < n {
                if !more(io, url, &mut rest).await? {
                    return Err(closed());
                }
            }
            rest.truncate(n);
            Ok((head.status, rest))
        }
        Framing::Close => {
            while more(io, url, &mut rest).await? {
                if rest.len() > BODY_LIMIT {
                    return Err(too_large());
                }
            }
            Ok((head.status, rest))
        }
        Framing::Chunked => {
            let mut d = Chunked::default();
            let mut body = Vec::new();
            let mut raw = rest;
            loop {
                d.feed(&raw, &mut body).map_err(|e| garbled(url, format!("{}: {e}", head.line)))?;
                raw.clear();
                if body.len() > BODY_LIMIT {
                    return Err(too_large());
                }
                if d.done() {
                    return Ok((head.status, body));
                }
                if !more(io, url, &mut raw).await? {
                    return Err(closed());
                }
            }
        }
    }
}

async fn read_response(io: &mut Box<dyn Io>, url: &HttpUrl) -> Result<(u16, Vec<u8>), Error> {
    let (head, rest) = read_head(io, url).await?;
    read_body(io, url, head, rest).await
}

/// A watch stream on one key. Dropping it closes the connection (etcd ends the watch).
pub struct Watch {
    io: Box<dyn Io>,
    endpoint: HttpUrl,
    /// `None`: the body runs to the close.
    chunked: Option<Chunked>,
    /// Bytes read, not yet decoded.
    raw: Vec<u8>,
    /// Decoded body, not yet parsed.
    body: Vec<u8>,
    /// Events of the created message, given by the first `next`.
    pending: Vec<WatchEvent>,
}

impl Watch {
    fn start(io: Box<dyn Io>, url: &HttpUrl, head: Head, rest: Vec<u8>) -> Watch {
        let chunked = (head.framing == Framing::Chunked).then(Chunked::default);
        Watch { io, endpoint: url.clone(), chunked, raw: rest, body: Vec::new(), pending: Vec::new() }
    }

    /// The endpoint this watch runs on.
    pub fn endpoint(&self) -> String {
        show_url(&self.endpoint)
    }

    /// The next events (at least one). Not bounded in time: wrap it in a timeout. An error
    /// ends the watch (the connection closed, the watch was canceled or compacted, junk).
    pub async fn next(&mut self) -> Result<Vec<WatchEvent>, Error> {
        if !self.pending.is_empty() {
            return Ok(std::mem::take(&mut self.pending));
        }
        loop {
            let m = self.message().await?;
            if !m.events.is_empty() {
                return Ok(m.events);
            }
        }
    }

    /// The next message, whatever it holds.
    async fn message(&mut self) -> Result<api::WatchMessage, Error> {
        let url = &self.endpoint;
        loop {
            // Decode what was read.
            match &mut self.chunked {
                Some(d) => {
                    d.feed(&self.raw, &mut self.body).map_err(|e| garbled(url, format!("watch: {e}")))?;
                    self.raw.clear();
                }
                None => self.body.append(&mut self.raw),
            }
            // One whole JSON value at the front?
            let mut values = serde_json::Deserializer::from_slice(&self.body).into_iter::<Value>();
            match values.next() {
                Some(Ok(v)) => {
                    let used = values.byte_offset();
                    self.body.drain(..used.min(self.body.len()));
                    let v = api::stream_message(v).map_err(|e| Error::reply(url, e))?;
                    return api::parse_watch(&v).map_err(|e| Error::reply(url, e));
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Err(garbled(url, format!("watch: not JSON: \"{}\"", text::escape_at_most(&self.body, 60))));
                }
                _ => {}
            }
            if self.body.len() > BODY_LIMIT {
                return Err(garbled(url, format!("watch: a message larger than {} KiB", BODY_LIMIT / 1024)));
            }
            if self.chunked.as_ref().is_some_and(Chunked::done) || !more(&mut self.io, url, &mut self.raw).await? {
                return Err(Error::new(ErrorKind::Unreachable, Some(url), "watch: the stream ended"));
            }
        }
    }
}
