//! The client of our tracker's index API: publish a torrent, search the
//! listings, fetch a listed torrent. Announcing is `announcer`'s business, and
//! works with any tracker.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::error::PeerError;
use crate::common::http::{HttpError, percent_encode};
use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::{PublishReply, SearchReply};
use crate::sys::{http_client, resolve};

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct IndexClient {
    pub addr: SocketAddr,
}

impl IndexClient {
    /// `host` is a dotted quad, an IPv6 literal or a host name; the error is one line.
    pub fn new(host: &str, port: u16) -> Result<IndexClient, String> {
        let addr =
            resolve::host(host, port).map_err(|e| format!("invalid tracker address: {e}"))?;
        Ok(IndexClient { addr })
    }

    /// Whether the tracker accepts a connection now: at start, so a peer whose
    /// tracker is not there says so once instead of waiting silently.
    pub fn probe(&self) -> std::io::Result<()> {
        TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).map(drop)
    }

    /// The same tracker's announce URL, written into the torrents we make.
    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    fn call(&self, method: &str, target: &str, body: &[u8]) -> Result<Vec<u8>, PeerError> {
        match http_client::request(self.addr, method, target, body, TIMEOUT) {
            Ok((200, body)) => Ok(body),
            Ok((status, body)) => Err(PeerError::TrackerBadReply {
                addr: self.addr,
                reason: format!("HTTP {status}: {}", String::from_utf8_lossy(&body).trim()),
            }),
            Err(HttpError::Io(source)) => Err(PeerError::TrackerUnreachable {
                addr: self.addr,
                source,
            }),
            Err(e) => Err(PeerError::TrackerBadReply {
                addr: self.addr,
                reason: e.to_string(),
            }),
        }
    }

    pub fn publish(&self, torrent: &[u8]) -> Result<PublishReply, PeerError> {
        let body = self.call("POST", "/publish", torrent)?;
        serde_json::from_slice(&body).map_err(|e| PeerError::TrackerBadReply {
            addr: self.addr,
            reason: e.to_string(),
        })
    }

    pub fn search(&self, query: &str) -> Result<SearchReply, PeerError> {
        let body = self.call(
            "GET",
            &format!("/search?q={}", percent_encode(query.as_bytes())),
            b"",
        )?;
        serde_json::from_slice(&body).map_err(|e| PeerError::TrackerBadReply {
            addr: self.addr,
            reason: e.to_string(),
        })
    }

    pub fn fetch(&self, key: &InfoHash) -> Result<Vec<u8>, PeerError> {
        self.call("GET", &format!("/torrent/{}", key.hex()), b"")
    }
}
