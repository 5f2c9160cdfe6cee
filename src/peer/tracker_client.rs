//! The peer's side of the tracker: publish, search, fetch and announce over HTTP.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::error::PeerError;
use crate::common::http::{self, HttpError, percent_encode};
use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::{Announce, AnnounceReply, PublishReply, SearchReply};

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct TrackerClient {
    pub addr: SocketAddr,
}

impl TrackerClient {
    pub fn new(ip: &str, port: u16) -> Result<TrackerClient, String> {
        let addr = (ip, port)
            .to_socket_addrs()
            .map_err(|e| format!("invalid tracker address {ip}:{port}: {e}"))?
            .next()
            .ok_or_else(|| format!("invalid tracker address {ip}:{port}"))?;
        Ok(TrackerClient { addr })
    }

    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    fn call(&self, method: &str, target: &str, body: &[u8]) -> Result<Vec<u8>, PeerError> {
        match http::request(self.addr, method, target, body, TIMEOUT) {
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

    pub fn announce(&self, a: &Announce) -> Result<AnnounceReply, PeerError> {
        let target = format!("/announce?{}", a.to_query());
        let body = match http::request(self.addr, "GET", &target, b"", TIMEOUT) {
            Ok((_, body)) => body,
            Err(HttpError::Io(source)) => {
                return Err(PeerError::TrackerUnreachable {
                    addr: self.addr,
                    source,
                });
            }
            Err(e) => {
                return Err(PeerError::TrackerBadReply {
                    addr: self.addr,
                    reason: e.to_string(),
                });
            }
        };
        AnnounceReply::decode(&body).map_err(|reason| PeerError::TrackerBadReply {
            addr: self.addr,
            reason,
        })
    }
}
