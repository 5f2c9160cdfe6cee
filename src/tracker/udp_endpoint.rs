//! The tracker's BEP 15 face, without the socket: one datagram in, its answer
//! (or silence) out. Connection ids come from `ConnectionIds`, so nothing is
//! kept per client; `FloodGuard` gives each source address its share.
//!
//! What is answered with an error packet and what is dropped follows one rule:
//! never send more bytes toward an address than it sent us unless it proved it
//! owns that address (a valid connection id), so a forged source gains nothing.
//! A datagram too short to carry a transaction id, a connect without BEP 15's
//! magic, or one over the address's rate is dropped; a wrong connection id, an
//! unknown action, a torn announce or an oversized scrape gets a short error.

use core::net::{IpAddr, SocketAddr};

use super::connection_ids::ConnectionIds;
use super::flood_guard::FloodGuard;
use crate::common::tracker_proto::{Announce, AnnounceReply, ScrapeReply, ScrapeRequest};
use crate::common::tracker_udp::{self, Family, Request, UdpTrackerError};

/// Peers in one reply, so that it fits a 1500-byte Ethernet frame: 20 bytes of
/// header and 6-byte IPv4 or 18-byte IPv6 entries within 1452 bytes of payload.
pub const MAX_PEERS_V4: u32 = 200;
pub const MAX_PEERS_V6: u32 = 75;

/// What the endpoint needs of the tracker: the same operations HTTP uses.
pub trait Swarms {
    fn announce(&self, a: &Announce, source: IpAddr) -> Result<AnnounceReply, String>;
    fn scrape(&self, req: &ScrapeRequest) -> ScrapeReply;
}

pub struct UdpEndpoint {
    ids: ConnectionIds,
    guard: FloodGuard,
}

impl UdpEndpoint {
    /// `rate_limit`: datagrams a second one address may send (0: no limit).
    pub fn new(ids: ConnectionIds, rate_limit: u32) -> UdpEndpoint {
        UdpEndpoint {
            ids,
            guard: FloodGuard::new(rate_limit),
        }
    }

    /// Writes the answer to `datagram` from `from` into `out`; false means send nothing.
    pub fn answer(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        now_ms: u64,
        swarms: &impl Swarms,
        out: &mut Vec<u8>,
    ) -> bool {
        let ip = from.ip().to_canonical();
        if datagram.len() < 16 || !self.guard.admit(ip, now_ms) {
            return false;
        }
        let family = if ip.is_ipv4() { Family::V4 } else { Family::V6 };
        let tid = u32::from_be_bytes([datagram[12], datagram[13], datagram[14], datagram[15]]);
        let request = match tracker_udp::decode_request(datagram) {
            Ok(r) => r,
            Err(UdpTrackerError::NotBep15) => return false,
            Err(e) => {
                refuse(out, tid, &e.to_string(), datagram.len());
                return true;
            }
        };
        match request {
            Request::Connect { transaction_id } => {
                tracker_udp::write_connect_reply(out, transaction_id, self.ids.issue(ip, now_ms));
            }
            Request::Announce {
                connection_id,
                transaction_id,
                mut announce,
            } => {
                if !self.ids.valid(connection_id, ip, now_ms) {
                    refuse(out, transaction_id, "connection id expired", datagram.len());
                    return true;
                }
                if announce.port == 0 {
                    refuse(out, transaction_id, "port 0", datagram.len());
                    return true;
                }
                // Peers are listed at the address the datagram came from: a
                // client-chosen `ip` would let anyone point a swarm at a victim.
                announce.ip = None;
                let cap = match family {
                    Family::V4 => MAX_PEERS_V4,
                    Family::V6 => MAX_PEERS_V6,
                };
                announce.numwant = Some(announce.numwant.map_or(cap, |n| n.min(cap)));
                match swarms.announce(&announce, ip) {
                    Ok(reply) => {
                        tracker_udp::write_announce_reply(out, transaction_id, &reply, family)
                    }
                    Err(reason) => tracker_udp::write_error(out, transaction_id, &reason),
                }
            }
            Request::Scrape {
                connection_id,
                transaction_id,
                scrape,
            } => {
                if !self.ids.valid(connection_id, ip, now_ms) {
                    refuse(out, transaction_id, "connection id expired", datagram.len());
                    return true;
                }
                // An empty scrape asks for nothing here (HTTP's means "all").
                let counts = if scrape.info_hashes.is_empty() {
                    Vec::new()
                } else {
                    let reply = swarms.scrape(&scrape);
                    scrape
                        .info_hashes
                        .iter()
                        .map(|h| {
                            reply
                                .files
                                .binary_search_by_key(h, |(k, _)| *k)
                                .map(|i| reply.files[i].1)
                                .unwrap_or_default()
                        })
                        .collect()
                };
                tracker_udp::write_scrape_reply(out, transaction_id, &counts);
            }
        }
        true
    }
}

/// An error packet no longer than the datagram it answers: its text is cut,
/// so a forged source never receives more than was sent in its name.
fn refuse(out: &mut Vec<u8>, transaction_id: u32, message: &str, limit: usize) {
    tracker_udp::write_error(out, transaction_id, message);
    out.truncate(limit);
}

#[cfg(test)]
mod tests;
