//! A scripted raw BGP peer over TCP: reads whole messages off the socket (decoded with
//! `anycastd::wire::decode_message`), writes whatever octets a case wants, and runs the
//! well-behaved side of a handshake. Every read is bounded by a deadline.

use super::bgp_bytes::keepalive;
use anycastd::wire::{decode_message, Message, SessionParams};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::time::{timeout, timeout_at, Instant};

/// Bound for a single protocol step (a message, a status change).
pub const STEP: Duration = Duration::from_secs(5);

pub type R<T> = Result<T, String>;

/// What a read produced.
pub enum Next {
    Msg(Vec<u8>),
    Eof,
    Timeout,
}

/// The reading side of a raw peer: whole messages off the socket.
pub struct Reader {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
}

impl Reader {
    /// The next whole message, `Eof` when the connection ends (or is reset), `Timeout` at
    /// `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> R<Next> {
        let mut tmp = vec![0u8; 65536];
        loop {
            if let Some(len) = self.buf.get(16..18).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) {
                if len < 19 {
                    return Err(format!("anycastd sent a header with length {len}"));
                }
                if self.buf.len() >= len {
                    return Ok(Next::Msg(self.buf.drain(..len).collect()));
                }
            }
            match timeout_at(deadline, self.rd.read(&mut tmp)).await {
                Err(_) => return Ok(Next::Timeout),
                Ok(Ok(0)) | Ok(Err(_)) if self.buf.is_empty() => return Ok(Next::Eof),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(format!("connection ended inside a message: {:02x?}", self.buf)),
                Ok(Ok(n)) => self.buf.extend_from_slice(tmp.get(..n).unwrap_or_default()),
            }
        }
    }

    /// Reads until a NOTIFICATION (returned) or the end of the connection (`None`), skipping
    /// KEEPALIVEs and UPDATEs.
    pub async fn notification(&mut self, limit: Duration) -> R<Option<(u8, u8, Vec<u8>)>> {
        let deadline = Instant::now() + limit;
        loop {
            match self.next(deadline).await? {
                Next::Timeout => return Err(format!("neither a NOTIFICATION nor a close within {limit:?}")),
                Next::Eof => return Ok(None),
                Next::Msg(m) => match decode(&m)? {
                    Message::Notification(n) => return Ok(Some((n.code, n.subcode, n.data))),
                    Message::Keepalive | Message::Update(_) => {}
                    other => return Err(format!("unexpected {} from anycastd", other.msg_type().name())),
                },
            }
        }
    }

    /// Listens for `d`: anything but KEEPALIVE/UPDATE (a NOTIFICATION, a close) is an error.
    pub async fn quiet(&mut self, d: Duration) -> R<()> {
        let deadline = Instant::now() + d;
        loop {
            match self.next(deadline).await? {
                Next::Timeout => return Ok(()),
                Next::Eof => return Err("anycastd closed the connection".into()),
                Next::Msg(m) => match decode(&m)? {
                    Message::Keepalive | Message::Update(_) => {}
                    Message::Notification(n) => return Err(format!("anycastd sent NOTIFICATION {n}")),
                    other => return Err(format!("unexpected {} from anycastd", other.msg_type().name())),
                },
            }
        }
    }

    pub async fn expect_type(&mut self, ty: u8, what: &str) -> R<Vec<u8>> {
        match self.next(Instant::now() + STEP).await? {
            Next::Msg(m) if m.get(18) == Some(&ty) => {
                decode(&m)?;
                Ok(m)
            }
            Next::Msg(m) => Err(format!("expected {what}, got {}", describe(&m))),
            Next::Eof => Err(format!("connection closed while waiting for {what}")),
            Next::Timeout => Err(format!("no {what} within {STEP:?}")),
        }
    }
}

pub fn decode(m: &[u8]) -> R<Message<'_>> {
    decode_message(m, &SessionParams::default())
        .map(|(msg, _)| msg)
        .map_err(|e| format!("anycastd sent an undecodable message ({e}): {:02x?}", m))
}

pub fn describe(m: &[u8]) -> String {
    match decode(m) {
        Ok(Message::Notification(n)) => format!("NOTIFICATION {n}"),
        Ok(x) => x.msg_type().name().to_string(),
        Err(e) => e,
    }
}

pub struct Peer {
    pub r: Reader,
    pub wr: Option<OwnedWriteHalf>,
}

impl Peer {
    pub async fn accept(l: &TcpListener, limit: Duration, what: &str) -> R<Peer> {
        let (s, _) = timeout(limit, l.accept())
            .await
            .map_err(|_| format!("anycastd did not connect to the {what} peer within {limit:?}"))?
            .map_err(|e| format!("accept: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let (rd, wr) = s.into_split();
        Ok(Peer { r: Reader { rd, buf: Vec::new() }, wr: Some(wr) })
    }

    /// A peer on a connection it opened itself (to a listening speaker).
    pub fn from_stream(s: tokio::net::TcpStream) -> R<Peer> {
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let (rd, wr) = s.into_split();
        Ok(Peer { r: Reader { rd, buf: Vec::new() }, wr: Some(wr) })
    }

    pub async fn send(&mut self, b: &[u8]) -> R<()> {
        let w = self.wr.as_mut().ok_or("write half given away")?;
        timeout(STEP, w.write_all(b))
            .await
            .map_err(|_| "write timed out".to_string())?
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads anycastd's OPEN, sends `open` and reads anycastd's KEEPALIVE: OpenConfirm.
    pub async fn reach_open_confirm(&mut self, open: &[u8]) -> R<()> {
        self.r.expect_type(1, "anycastd's OPEN").await?;
        self.send(open).await?;
        self.r.expect_type(4, "anycastd's KEEPALIVE").await.map(|_| ())
    }

    /// The whole handshake with `open`.
    pub async fn establish(&mut self, open: &[u8]) -> R<()> {
        self.reach_open_confirm(open).await?;
        self.send(&keepalive()).await
    }
}

/// The well-behaved neighbor: KEEPALIVE every second, records anything alarming it sees.
pub fn run_good_peer(mut p: Peer, events: Arc<Mutex<Vec<String>>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let Some(mut wr) = p.wr.take() else { return };
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if wr.write_all(&keepalive()).await.is_err() {
                        events.lock().unwrap_or_else(|e| e.into_inner()).push("write failed".into());
                        return;
                    }
                }
                r = p.r.next(Instant::now() + Duration::from_secs(3600)) => {
                    let note = match r {
                        Ok(Next::Msg(m)) if m.get(18) == Some(&3) => describe(&m),
                        Ok(Next::Msg(_)) | Ok(Next::Timeout) => continue,
                        Ok(Next::Eof) => "connection closed".to_string(),
                        Err(e) => e,
                    };
                    events.lock().unwrap_or_else(|e| e.into_inner()).push(note);
                    return;
                }
            }
        }
    })
}
