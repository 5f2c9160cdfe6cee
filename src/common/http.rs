//! Just enough HTTP/1.1 for a tracker: a request parser that works on a byte
//! buffer (so the server can keep connections alive), percent-coding, and the
//! encoding of responses. Framing only: the client that connects is
//! `sys::http_client`.

use std::io::{self, Write};

use thiserror::Error;

pub const MAX_HEAD: usize = 16 * 1024;
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// One header line; the request line may use the whole head (a scrape of many hashes).
pub const MAX_HEADER_LINE: usize = 8 * 1024;
pub const MAX_HEADERS: usize = 64;

#[derive(Debug, Error)]
pub enum HttpError {
    #[error("malformed HTTP: {0}")]
    Malformed(&'static str),
    #[error("HTTP request too large")]
    TooLarge,
    #[error("HTTP request head too large")]
    HeadTooLarge,
    #[error("{0}")]
    Io(#[from] io::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Query pairs, percent-decoded to raw bytes (an info_hash is binary).
    pub query: Vec<(String, Vec<u8>)>,
    pub keep_alive: bool,
    /// The `Host` header, where it is a plain host[:port], for links back to this server.
    pub host: Option<String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.param(name).and_then(|v| std::str::from_utf8(v).ok())
    }
    pub fn params<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// What a server answers, before it is framed by `encode_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// Header lines besides the framing ones, each ending in CRLF.
    pub extra_headers: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Self {
        Response {
            status: 200,
            content_type,
            extra_headers: String::new(),
            body,
        }
    }

    /// A one-line plain-text message, newline-terminated.
    pub fn text(status: u16, msg: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            extra_headers: String::new(),
            body: format!("{msg}\n").into_bytes(),
        }
    }

    /// Adds a header line; the value must hold no CR or LF.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        debug_assert!(!value.contains(['\r', '\n']));
        self.extra_headers.push_str(&format!("{name}: {value}\r\n"));
        self
    }
}

/// Parses one request from the front of `buf`. `Ok(None)` means more bytes are needed.
///
/// Framing is strict, because a request two parties could read two ways is how
/// one request gets smuggled inside another: a repeated `Content-Length` (even
/// the same value), one that is not plain digits, any `Transfer-Encoding`, a
/// folded or malformed header line, a control character in the head, and heads
/// past the limits are all errors, and the caller closes the connection.
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(HttpError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if head_end > MAX_HEAD {
        return Err(HttpError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| HttpError::Malformed("head is not UTF-8"))?;
    if head
        .bytes()
        .any(|b| (b < 0x20 && b != b'\t' && b != b'\r' && b != b'\n') || b == 0x7f)
    {
        return Err(HttpError::Malformed("control character in the head"));
    }
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    if request_line.contains(['\r', '\n']) {
        return Err(HttpError::Malformed("bad request line"));
    }
    let mut first = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (first.next(), first.next(), first.next(), first.next())
    else {
        return Err(HttpError::Malformed("bad request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(HttpError::Malformed("bad request line"));
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length: Option<usize> = None;
    let mut host = None;
    for (n, line) in lines.enumerate() {
        if n >= MAX_HEADERS || line.len() > MAX_HEADER_LINE {
            return Err(HttpError::HeadTooLarge);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("bad header line"))?;
        // A space or tab before the colon, or at the start (a folded line), is refused (RFC 9112 5.1, 5.2).
        if name.is_empty()
            || line.contains(['\r', '\n'])
            || name.bytes().any(|b| b == b' ' || b == b'\t')
        {
            return Err(HttpError::Malformed("bad header line"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return Err(HttpError::Malformed("repeated content-length"));
            }
            if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::Malformed("bad content-length"));
            }
            let len: usize = value.parse().map_err(|_| HttpError::TooLarge)?;
            if len > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            content_length = Some(len);
        } else if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("host") {
            host = (!value.is_empty()
                && value.len() <= 255
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)))
            .then(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Malformed("transfer-encoding is not supported"));
        }
    }
    let content_length = content_length.unwrap_or(0);
    let body_start = head_end + 4;
    if buf.len() < body_start + content_length {
        return Ok(None);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, parse_query(q)?),
        None => (target, Vec::new()),
    };
    let req = Request {
        method: method.to_owned(),
        path: String::from_utf8(percent_decode(path.as_bytes())?)
            .map_err(|_| HttpError::Malformed("path is not UTF-8"))?,
        query,
        keep_alive,
        host,
        body: buf[body_start..body_start + content_length].to_vec(),
    };
    Ok(Some((req, body_start + content_length)))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn parse_query(q: &str) -> Result<Vec<(String, Vec<u8>)>, HttpError> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = String::from_utf8(percent_decode(k.as_bytes())?)
                .map_err(|_| HttpError::Malformed("query key is not UTF-8"))?;
            Ok((k, percent_decode(v.as_bytes())?))
        })
        .collect()
}

pub fn percent_decode(s: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .ok_or(HttpError::Malformed("truncated percent escape"))?;
                let hi = (hex[0] as char)
                    .to_digit(16)
                    .ok_or(HttpError::Malformed("bad percent escape"))?;
                let lo = (hex[1] as char)
                    .to_digit(16)
                    .ok_or(HttpError::Malformed("bad percent escape"))?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

pub fn percent_encode(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

/// An HTTP response the server writes; `keep_alive` echoes the request's wish.
pub fn encode_response(status: u16, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    encode_response_with(status, content_type, "", body, keep_alive)
}

/// `encode_response` with more header lines (`extra` is CRLF-terminated lines, or empty).
pub fn encode_response_with(
    status: u16,
    content_type: &str,
    extra: &str,
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    let mut buf = Vec::with_capacity(head.len() + body.len());
    buf.extend_from_slice(head.as_bytes());
    buf.extend_from_slice(body);
    buf
}

/// `encode_response`, written in one `write_all`.
pub fn write_response(
    out: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    out.write_all(&encode_response(status, content_type, body, keep_alive))
}

/// The head of a client's request (`Connection: close`, so the reply ends with the connection).
pub fn encode_request(method: &str, target: &str, host: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: swarmshare/{}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    req
}

/// A whole response read until the server closed: its status and body
/// (cut to `Content-Length` when there is one).
pub fn parse_response(mut resp: Vec<u8>) -> Result<(u16, Vec<u8>), HttpError> {
    let head_end =
        find(&resp, b"\r\n\r\n").ok_or(HttpError::Malformed("response has no header end"))?;
    let mut body = resp.split_off(head_end + 4);
    let head = std::str::from_utf8(&resp[..head_end])
        .map_err(|_| HttpError::Malformed("response head is not UTF-8"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(HttpError::Malformed("bad status line"))?;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
            && let Ok(n) = v.trim().parse::<usize>()
        {
            body.truncate(n);
        }
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_get_with_binary_query() {
        let raw = b"GET /announce?info_hash=%12%34abc&port=6881&x HTTP/1.1\r\nHost: a\r\n\r\nGET /";
        let (r, used) = parse_request(raw).unwrap().unwrap();
        assert_eq!(used, raw.len() - 5);
        assert_eq!(r.path, "/announce");
        assert_eq!(
            r.param("info_hash").unwrap(),
            &[0x12, 0x34, b'a', b'b', b'c']
        );
        assert_eq!(r.param_str("port"), Some("6881"));
        assert_eq!(r.param("x"), Some(&b""[..]));
        assert!(r.keep_alive);
    }

    #[test]
    fn waits_for_body_and_head() {
        assert!(
            parse_request(b"POST /publish HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")
                .unwrap()
                .is_none()
        );
        assert!(parse_request(b"GET / HTTP/1.1\r\n").unwrap().is_none());
        let (r, _) = parse_request(b"POST /p HTTP/1.0\r\nContent-Length: 2\r\n\r\nab")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, b"ab");
        assert!(!r.keep_alive);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"\x00\x01\x02\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / FTP/1\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET /?a=%zz HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            parse_request(&vec![b'a'; MAX_HEAD + 1]),
            Err(HttpError::HeadTooLarge)
        ));
    }

    #[test]
    fn ambiguous_framing_is_an_error() {
        let long = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_LINE)
        );
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: 1\r\n".repeat(MAX_HEADERS + 1)
        );
        for bad in [
            &b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 0\r\n\r\nx"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
            b"POST / HTTP/1.1\r\nContent-Length: 1 1\r\n\r\nx",
            b"POST / HTTP/1.1\r\nContent-Length : 1\r\n\r\nx",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\nContent-Length: 5\r\n\r\n",
            long.as_bytes(),
            many.as_bytes(),
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let (r, used) = parse_request(b"GET / HTTP/1.1\r\nContent-Length:\t0 \r\n\r\nGET")
            .unwrap()
            .unwrap();
        assert_eq!((r.body.len(), used), (0, 38));
    }

    #[test]
    fn responses_round_trip() {
        let bytes = encode_response(404, "text/plain", b"gone\n", false);
        assert!(bytes.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert_eq!(parse_response(bytes).unwrap(), (404, b"gone\n".to_vec()));
        let mut long = encode_response(200, "text/plain", b"abc", true);
        long.extend_from_slice(b"trailing");
        assert_eq!(parse_response(long).unwrap(), (200, b"abc".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n".to_vec()).is_err());
        assert!(parse_response(b"HTTP/1.1 xx OK\r\n\r\n".to_vec()).is_err());
    }

    #[test]
    fn percent_round_trip() {
        let b: Vec<u8> = (0..=255).collect();
        assert_eq!(percent_decode(percent_encode(&b).as_bytes()).unwrap(), b);
    }
}
