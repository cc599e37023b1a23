//! The HTTP/1.1 framing the etcd client needs (pure): the POST request, the response head,
//! and a chunked-body decoder fed bytes as they come. Bounded everywhere: a head longer than
//! [`HEAD_LIMIT`], a chunk-size line longer than 64 bytes or a trailer longer than
//! [`HEAD_LIMIT`] is an error, never a growing buffer.

use crate::ha::http::parse_status_line;
use crate::wire::text;

/// Longest response head (status line and headers).
pub const HEAD_LIMIT: usize = 16 * 1024;

/// A POST of a JSON `body` to `path`, `Connection: close`.
pub fn request(host: &str, path: &str, body: &[u8], token: Option<&str>) -> Vec<u8> {
    let auth = token.map(|t| format!("Authorization: {t}\r\n")).unwrap_or_default();
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: anycastd\r\nContent-Type: application/json\r\nAccept: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    /// Up to the close.
    Close,
}

/// A response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// "HTTP 200 OK", escaped.
    pub line: String,
    pub framing: Framing,
    /// Where the body starts in the buffer given to [`parse_head`].
    pub body_at: usize,
}

/// The head at the start of `buf`: `Ok(None)` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > HEAD_LIMIT {
            return Err(format!("a response head longer than {} KiB", HEAD_LIMIT / 1024));
        }
        if buf.len() >= 8 && !buf.starts_with(b"HTTP/1.") {
            return Err(format!("not an HTTP/1.x answer: \"{}\"", text::escape_at_most(buf, 60)));
        }
        return Ok(None);
    };
    let head = buf.get(..end).unwrap_or_default();
    let mut with_nl = head.to_vec();
    with_nl.push(b'\n');
    let (status, line) = parse_status_line(&with_nl)
        .ok_or_else(|| format!("not an HTTP/1.x status line: \"{}\"", text::escape_at_most(head, 60)))?;
    let mut framing = Framing::Close;
    for l in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = l.iter().position(|&b| b == b':') else { continue };
        let (name, value) =
            (l.get(..colon).unwrap_or_default().trim_ascii(), l.get(colon + 1..).unwrap_or_default().trim_ascii());
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if value.eq_ignore_ascii_case(b"chunked") {
                framing = Framing::Chunked;
            } else {
                return Err(format!("an unsupported Transfer-Encoding \"{}\"", text::escape_at_most(value, 60)));
            }
        } else if name.eq_ignore_ascii_case(b"content-length") && framing != Framing::Chunked {
            let n = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            framing = Framing::Length(n.ok_or_else(|| "a malformed Content-Length".to_string())?);
        }
    }
    Ok(Some(Head { status, line, framing, body_at: end + 4 }))
}

/// Decodes a chunked body fed in pieces.
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
    /// A partial size line or trailer.
    line: Vec<u8>,
    trailer: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Size,
    /// Bytes of data left in this chunk.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailer,
    Done,
}

impl Chunked {
    /// Feeds `input`, appending the body's bytes to `out`; how many input bytes were used
    /// (all of them unless the body ended).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => return Ok(i),
                State::Data(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len() - i);
                    out.extend_from_slice(input.get(i..i + take).unwrap_or_default());
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                }
                State::Size | State::DataEnd | State::Trailer => {
                    let b = input.get(i).copied().unwrap_or(0);
                    i += 1;
                    if self.state == State::DataEnd && b != b'\r' && b != b'\n' {
                        return Err("a malformed chunked body (no CRLF after a chunk)".into());
                    }
                    if b != b'\n' {
                        self.line.push(b);
                        if self.state == State::Trailer {
                            self.trailer += 1;
                            if self.trailer > HEAD_LIMIT {
                                return Err("a chunked trailer too long".into());
                            }
                            // Only whether the line is empty matters.
                            self.line.truncate(1);
                        } else if self.line.len() > 64 {
                            return Err("a malformed chunked body (a size line too long)".into());
                        }
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        State::DataEnd if line.is_empty() => State::Size,
                        State::DataEnd => return Err("a malformed chunked body (no CRLF after a chunk)".into()),
                        State::Trailer if line.is_empty() => State::Done,
                        State::Trailer => State::Trailer,
                        _ => {
                            let hex = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
                            let size = std::str::from_utf8(hex)
                                .ok()
                                .filter(|h| !h.is_empty())
                                .and_then(|h| u64::from_str_radix(h, 16).ok())
                                .ok_or_else(|| {
                                    format!("a malformed chunk size \"{}\"", text::escape_at_most(line, 30))
                                })?;
                            match size {
                                0 => State::Trailer,
                                n => State::Data(n),
                            }
                        }
                    };
                }
            }
        }
        Ok(i)
    }

    /// The last chunk and the trailer have been read.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 148\r\n\r\n{")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.framing, h.body_at), (200, Framing::Length(148), 72));
        let h = parse_head(b"HTTP/1.1 500 Internal Server Error\r\nTrailer: Grpc-Trailer-Content-Type\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.status, h.framing), (500, Framing::Chunked));
        assert!(parse_head(b"SSH-2.0-OpenSSH_9.2\r\n").is_err());
        assert!(parse_head(&vec![b'H'; HEAD_LIMIT + 1]).is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_in_any_pieces() {
        // As etcd sends an error: a chunk, the last chunk and a trailer.
        let wire = b"48\r\n{\"error\":\"election: no leader\",\"message\":\"election: no leader\",\"code\":2}\r\n0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\nEXTRA";
        for step in [1, 2, 7, wire.len()] {
            let mut d = Chunked::default();
            let mut out = Vec::new();
            let mut used = 0;
            for piece in wire.chunks(step) {
                used += d.feed(piece, &mut out).unwrap();
                if d.done() {
                    break;
                }
            }
            assert!(d.done());
            assert_eq!(used, wire.len() - 5);
            assert!(out.starts_with(b"{\"error\"") && out.ends_with(b"\"code\":2}"));
        }
    }

    #[test]
    fn chunked_junk_is_an_error() {
        let mut out = Vec::new();
        assert!(Chunked::default().feed(b"zz\r\n", &mut out).is_err());
        assert!(Chunked::default().feed(&[b'1'; 100], &mut out).is_err());
        assert!(Chunked::default().feed(b"2\r\nabX", &mut out).is_err());
        let mut long_trailer = b"0\r\n".to_vec();
        long_trailer.extend(std::iter::repeat_n(b'x', HEAD_LIMIT + 2));
        assert!(Chunked::default().feed(&long_trailer, &mut out).is_err());
        // A huge declared size is not allocated: only what arrives is kept.
        let mut d = Chunked::default();
        let mut out = Vec::new();
        d.feed(b"ffffffffffff\r\nabc", &mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
