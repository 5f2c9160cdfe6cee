//! BEP 11 `ut_pex`: peers tell each other which peers they are connected to.
//! The codec (compact `added`/`added.f`/`dropped` and their IPv6 twins), the
//! per-connection state that sends only what changed since the last message
//! at most once an interval, and the caps that keep a hostile peer from
//! flooding us: at most 50 added and 50 dropped are taken from one message,
//! and a peer sending more often than [`MIN_RECEIVE_GAP`] is ignored. Pure.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::bencode::{self, Encoder, Value};

pub const NAME: &str = "ut_pex";
/// BEP 11: a message carries no more than 50 added and 50 dropped peers.
pub const MAX_PER_MESSAGE: usize = 50;
/// BEP 11 asks for one message a minute; one arriving sooner than this after the
/// last one we acted on is ignored (some slack for timer jitter).
pub const MIN_RECEIVE_GAP: Duration = Duration::from_secs(45);
/// How often we send, unless the shell shortens it (tests).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The first message goes this soon after the connection starts.
const FIRST_DELAY: Duration = Duration::from_secs(2);

/// BEP 11 flags.
pub const FLAG_ENCRYPTION: u8 = 0x01;
pub const FLAG_SEED: u8 = 0x02;
pub const FLAG_CONNECTABLE: u8 = 0x10;

/// One ut_pex message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers the sender connected to, each with its flags.
    pub added: Vec<(SocketAddr, u8)>,
    pub dropped: Vec<SocketAddr>,
}

impl PexMessage {
    pub fn encode(&self) -> Vec<u8> {
        let (mut a4, mut f4, mut a6, mut f6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &(addr, flags) in self.added.iter().take(MAX_PER_MESSAGE) {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    a4.extend_from_slice(&ip.octets());
                    a4.extend_from_slice(&addr.port().to_be_bytes());
                    f4.push(flags);
                }
                IpAddr::V6(ip) => {
                    a6.extend_from_slice(&ip.octets());
                    a6.extend_from_slice(&addr.port().to_be_bytes());
                    f6.push(flags);
                }
            }
        }
        let (mut d4, mut d6) = (Vec::new(), Vec::new());
        for addr in self.dropped.iter().take(MAX_PER_MESSAGE) {
            let (buf, ip) = match addr.ip() {
                IpAddr::V4(ip) => (&mut d4, ip.octets().to_vec()),
                IpAddr::V6(ip) => (&mut d6, ip.octets().to_vec()),
            };
            buf.extend_from_slice(&ip);
            buf.extend_from_slice(&addr.port().to_be_bytes());
        }
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        // Keys in bencode's sorted order.
        e.begin_dict();
        e.str("added").bytes(&a4).str("added.f").bytes(&f4);
        if !a6.is_empty() {
            e.str("added6").bytes(&a6).str("added6.f").bytes(&f6);
        }
        e.str("dropped").bytes(&d4);
        if !d6.is_empty() {
            e.str("dropped6").bytes(&d6);
        }
        e.end();
        out
    }

    /// The message, or None when it is not a dictionary. Lists whose length
    /// is not a whole number of addresses are dropped, flags that do not
    /// match their list are ignored, port 0 is skipped, and no more than
    /// [`MAX_PER_MESSAGE`] of each kind are taken.
    pub fn decode(payload: &[u8]) -> Option<PexMessage> {
        let (v, _) = bencode::decode_prefix(payload).ok()?;
        let d = v.as_dict()?;
        let bytes = |k: &str| d.get(k).and_then(Value::as_bytes).unwrap_or(&[]);
        let mut added = Vec::new();
        for (list, flags, width) in [("added", "added.f", 6), ("added6", "added6.f", 18)] {
            let addrs = compact(bytes(list), width);
            let flags = bytes(flags);
            let flags = if flags.len() == addrs.len() {
                flags
            } else {
                &[]
            };
            for (i, a) in addrs.into_iter().enumerate() {
                if added.len() < MAX_PER_MESSAGE {
                    added.push((a, flags.get(i).copied().unwrap_or(0)));
                }
            }
        }
        let mut dropped = compact(bytes("dropped"), 6);
        dropped.extend(compact(bytes("dropped6"), 18));
        dropped.truncate(MAX_PER_MESSAGE);
        Some(PexMessage { added, dropped })
    }
}

/// Compact addresses of `width` bytes (6 for IPv4, 18 for IPv6); a list of
/// the wrong length is dropped whole, and at most MAX_PER_MESSAGE are read.
fn compact(b: &[u8], width: usize) -> Vec<SocketAddr> {
    if !b.len().is_multiple_of(width) {
        return Vec::new();
    }
    b.chunks_exact(width)
        .take(MAX_PER_MESSAGE)
        .filter_map(|c| {
            let port = u16::from_be_bytes([c[width - 2], c[width - 1]]);
            let ip = if width == 6 {
                IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            } else {
                IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&c[..16]).ok()?))
            };
            (port != 0).then_some(SocketAddr::new(ip, port))
        })
        .collect()
}

/// One connection's ut_pex: what the peer was last told, when we last sent
/// and when we last took a message from it.
#[derive(Debug)]
pub struct PexState {
    interval: Duration,
    /// Messages closer together than this are a flood: MIN_RECEIVE_GAP, or
    /// less when the interval is shortened (tests), for both sides share it.
    min_gap: Duration,
    next_send: Instant,
    /// The peers the remote side knows from us.
    told: BTreeSet<SocketAddr>,
    last_taken: Option<Instant>,
}

impl PexState {
    pub fn new(now: Instant, interval: Duration) -> PexState {
        PexState {
            interval,
            min_gap: MIN_RECEIVE_GAP.min(interval * 3 / 4),
            next_send: now + FIRST_DELAY.min(interval),
            told: BTreeSet::new(),
            last_taken: None,
        }
    }

    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next_send
    }

    /// The message to send now, given the torrent's connectable peers (never
    /// the receiver's own address: the caller leaves it out): the peers
    /// added and dropped since the last message, 50 of each at most (the
    /// rest wait for the next one). None when nothing is due or nothing
    /// changed.
    pub fn next_message(
        &mut self,
        now: Instant,
        current: &[(SocketAddr, u8)],
    ) -> Option<PexMessage> {
        if !self.is_due(now) {
            return None;
        }
        self.next_send = now + self.interval;
        let now_set: BTreeSet<SocketAddr> = current.iter().map(|&(a, _)| a).collect();
        let added: Vec<(SocketAddr, u8)> = current
            .iter()
            .filter(|(a, _)| !self.told.contains(a))
            .take(MAX_PER_MESSAGE)
            .copied()
            .collect();
        let dropped: Vec<SocketAddr> = self
            .told
            .iter()
            .filter(|a| !now_set.contains(a))
            .take(MAX_PER_MESSAGE)
            .copied()
            .collect();
        if added.is_empty() && dropped.is_empty() {
            return None;
        }
        for (a, _) in &added {
            self.told.insert(*a);
        }
        for a in &dropped {
            self.told.remove(a);
        }
        Some(PexMessage { added, dropped })
    }

    /// The addresses to act on from a message the peer sent: None for a
    /// message that came too soon after the last one (a flood) or does not decode.
    pub fn take(&mut self, now: Instant, payload: &[u8]) -> Option<Vec<SocketAddr>> {
        if self
            .last_taken
            .is_some_and(|t| now.saturating_duration_since(t) < self.min_gap)
        {
            return None;
        }
        let msg = PexMessage::decode(payload)?;
        self.last_taken = Some(now);
        Some(msg.added.into_iter().map(|(a, _)| a).collect())
    }
}

#[cfg(test)]
mod tests;
