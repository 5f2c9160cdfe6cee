//! A blocking one-shot HTTP client: one request, one connection, read to the close.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::http::{HttpError, MAX_BODY, MAX_HEAD, encode_request, parse_response};

/// One request, one connection: returns the status and body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), HttpError> {
    request_host(addr, &addr.to_string(), method, target, body, timeout)
}

/// `request` with the `Host` a URL named, for trackers behind a name.
pub fn request_host(
    addr: SocketAddr,
    host: &str,
    method: &str,
    target: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), HttpError> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&encode_request(method, target, host, body))?;
    let mut resp = Vec::new();
    s.take((MAX_BODY + MAX_HEAD) as u64)
        .read_to_end(&mut resp)?;
    parse_response(resp)
}
