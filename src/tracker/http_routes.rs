//! The tracker's HTTP routes: each request is read with the HTTP codec, handed
//! to the transport-neutral operation in `server`, and its answer encoded.

use std::net::IpAddr;

use super::page::{SortBy, torrent_disposition};
use super::server::{PublishError, Tracker};
use crate::common::http::{Request, Response};
use crate::common::metainfo::InfoHash;
use crate::common::tracker_http::{
    HttpAnnounce, HttpAnnounceReply, encode_scrape, failure, scrape_from_request,
};
use crate::common::tracker_proto::Announce;

/// A refusal as BEP 3 clients read it: libtorrent and Transmission show the
/// `failure reason` only from a 200 reply, and just "400 Bad Request" otherwise.
fn bencode_failure(reason: &str) -> Response {
    Response {
        status: 200,
        content_type: "text/plain",
        extra_headers: String::new(),
        body: failure(reason),
    }
}

fn json(body: &impl serde::Serialize) -> Response {
    Response::ok("application/json", serde_json::to_vec(body).expect("json"))
}

impl Tracker {
    pub fn route(&self, req: &Request, peer_ip: IpAddr) -> Response {
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("GET", "/announce") => self.http_announce(req, peer_ip),
            ("GET", "/scrape") => match scrape_from_request(req) {
                Ok(s) => Response::ok("text/plain", encode_scrape(&self.scrape(&s))),
                Err(reason) => bencode_failure(&reason),
            },
            ("GET", "/search") => self.http_search(req),
            ("POST", "/publish") => self.http_publish(req),
            ("GET", "/") => {
                let announce = req.host.as_ref().map(|h| format!("http://{h}/announce"));
                let sort = SortBy::parse(req.param_str("sort").unwrap_or(""));
                let html = self.page(req.param_str("q").unwrap_or(""), sort, announce.as_deref());
                Response::ok("text/html; charset=utf-8", html.into_bytes())
            }
            ("GET", p) if p.starts_with("/torrent") => {
                let key = p
                    .strip_prefix("/torrent/")
                    .or_else(|| req.param_str("key"))
                    .unwrap_or("");
                self.http_fetch(key.trim_end_matches(".torrent"))
            }
            (_, "/announce" | "/scrape" | "/search" | "/publish" | "/") => {
                Response::text(405, "method not allowed")
            }
            _ => Response::text(
                404,
                "not found: try /, /search?q=WORDS, /announce, /scrape, /torrent/KEY, POST /publish",
            ),
        }
    }

    fn http_announce(&self, req: &Request, peer_ip: IpAddr) -> Response {
        let a = match Announce::from_request(req) {
            Ok(a) => a,
            Err(reason) => return bencode_failure(&reason),
        };
        match self.announce(&a, peer_ip) {
            Ok(reply) => Response::ok("text/plain", reply.encode(a.compact, a.no_peer_id)),
            Err(reason) => bencode_failure(&reason),
        }
    }

    fn http_search(&self, req: &Request) -> Response {
        let Some(q) = req.param("q") else {
            return Response::text(400, "missing q: search?q=WORDS");
        };
        let Ok(q) = std::str::from_utf8(q) else {
            return Response::text(400, "q is not UTF-8");
        };
        let announce = req.host.as_ref().map(|h| format!("http://{h}/announce"));
        json(&self.search(q, announce.as_deref()))
    }

    fn http_publish(&self, req: &Request) -> Response {
        if req.body.is_empty() {
            return Response::text(400, "empty body: POST the .torrent file's bytes");
        }
        match self.publish(&req.body) {
            Ok(reply) => json(&reply),
            Err(PublishError::Refused(why)) => Response::text(400, &why),
            Err(PublishError::Failed(why)) => Response::text(500, &why),
        }
    }

    fn http_fetch(&self, key: &str) -> Response {
        let Some(hash) = InfoHash::from_hex(&key.to_lowercase()) else {
            return Response::text(400, "key must be 40 hex digits");
        };
        match self.torrent_file(&hash) {
            Some((name, bytes)) => Response::ok("application/x-bittorrent", bytes)
                .with_header("Content-Disposition", &torrent_disposition(&name)),
            None => Response::text(404, "no torrent with that key"),
        }
    }
}
