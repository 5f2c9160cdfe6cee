//! A UDP tracker (BEP 15) seen from the client: one per tracker URL, holding
//! its connection id and its place in the retry schedule (`tracker_udp`'s
//! `UdpRetry`), so every torrent announced there shares them.
//!
//! Each request waits for its answer at most the schedule's timeout and never
//! more than the caller's cap; a tracker that did not answer is then left
//! alone (the call fails at once) for the rest of its timeout. A thread is
//! thus never held for minutes by a dead tracker, and the tracker still sees
//! the 15·2ⁿ s spacing. Datagrams that are not the answer (another
//! transaction, garbage) are dropped with a debug line and the wait goes on.
//!
//! `SWARMSHARE_UDP_RETRY_BASE_MS` replaces the schedule's 15 s base: tests set
//! it low so a dead tracker costs them milliseconds.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::debug;
use thiserror::Error;

use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::{Announce, AnnounceReply, ScrapeReply};
use crate::common::tracker_udp::{
    self, DEFAULT_RETRY_BASE_MS, Family, UdpRetry, UdpTrackerError, UdpTrackerUrl,
};
use crate::sys::resolve;

/// The environment variable that shortens the retry schedule's base.
pub const RETRY_BASE_ENV: &str = "SWARMSHARE_UDP_RETRY_BASE_MS";

/// Big enough for any datagram; longer ones would be cut by the kernel.
const DATAGRAM: usize = 65_536;

#[derive(Debug, Error)]
pub enum UdpClientError {
    #[error("cannot find {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("{addr}: {source}")]
    Io { addr: SocketAddr, source: io::Error },
    #[error("no answer from {addr} within {ms} ms")]
    Timeout { addr: SocketAddr, ms: u64 },
    #[error("it did not answer lately; asking again in {ms} ms (BEP 15 schedule)")]
    Resting { ms: u64 },
    #[error("{addr}: {source}")]
    Protocol {
        addr: SocketAddr,
        source: UdpTrackerError,
    },
}

/// The schedule's base: the environment's, else the standard 15 s.
pub fn retry_base_ms() -> u64 {
    std::env::var(RETRY_BASE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .unwrap_or(DEFAULT_RETRY_BASE_MS)
}

pub struct UdpTrackerClient {
    url: UdpTrackerUrl,
    state: Mutex<UdpRetry>,
    epoch: Instant,
}

impl UdpTrackerClient {
    /// A client for `udp://HOST:PORT/…` with the schedule's base from the environment.
    pub fn new(url: &str) -> Result<UdpTrackerClient, UdpTrackerError> {
        Self::with_base(url, retry_base_ms())
    }

    pub fn with_base(url: &str, base_ms: u64) -> Result<UdpTrackerClient, UdpTrackerError> {
        Ok(UdpTrackerClient {
            url: UdpTrackerUrl::parse(url)?,
            state: Mutex::new(UdpRetry::new(base_ms)),
            epoch: Instant::now(),
        })
    }

    /// The tracker's address when its URL names one, not a host name.
    pub fn host_ip(&self) -> Option<std::net::IpAddr> {
        match self.url.host {
            crate::common::address::Host::Ip(ip) => Some(ip),
            crate::common::address::Host::Name(_) => None,
        }
    }

    /// The tracker's URL, for messages.
    pub fn url(&self) -> String {
        format!("udp://{}:{}", self.url.host, self.url.port)
    }

    /// The schedule's base, as a cap a caller may use for its waits.
    pub fn base(&self) -> Duration {
        Duration::from_millis(self.state().timeout_ms(0))
    }

    fn state(&self) -> MutexGuard<'_, UdpRetry> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// One announce: a connect first unless a fresh connection id is at hand.
    /// Blocks at most twice `cap`.
    pub fn announce(&self, a: &Announce, cap: Duration) -> Result<AnnounceReply, UdpClientError> {
        let (socket, addr) = self.socket()?;
        let family = if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        let id = self.connection_id(&socket, addr, cap)?;
        self.exchange(
            &socket,
            addr,
            cap,
            |tid| tracker_udp::encode_announce(id, tid, a),
            |bytes, tid| tracker_udp::decode_announce_reply(bytes, tid, family),
        )
    }

    /// The counts of up to 74 torrents. Blocks at most twice `cap`.
    pub fn scrape(
        &self,
        hashes: &[InfoHash],
        cap: Duration,
    ) -> Result<ScrapeReply, UdpClientError> {
        let (socket, addr) = self.socket()?;
        let protocol = |source| UdpClientError::Protocol { addr, source };
        // Checked before anything is sent.
        tracker_udp::encode_scrape(0, 0, hashes).map_err(protocol)?;
        let id = self.connection_id(&socket, addr, cap)?;
        self.exchange(
            &socket,
            addr,
            cap,
            |tid| tracker_udp::encode_scrape(id, tid, hashes).unwrap_or_default(),
            |bytes, tid| tracker_udp::decode_scrape_reply(bytes, tid, hashes),
        )
    }

    /// A socket on an ephemeral port, connected to the tracker so that only
    /// its datagrams are read (and a closed port is reported at once).
    fn socket(&self) -> Result<(UdpSocket, SocketAddr), UdpClientError> {
        let addr = resolve::resolve(&self.url.host, self.url.port).map_err(|source| {
            UdpClientError::Resolve {
                host: format!("{:?}", self.url.host),
                source,
            }
        })?;
        let io = |source| UdpClientError::Io { addr, source };
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).map_err(io)?;
        socket.connect(addr).map_err(io)?;
        Ok((socket, addr))
    }

    fn connection_id(
        &self,
        socket: &UdpSocket,
        addr: SocketAddr,
        cap: Duration,
    ) -> Result<u64, UdpClientError> {
        if let Some(id) = self.state().connection_id(self.now_ms()) {
            return Ok(id);
        }
        let id = self.exchange(
            socket,
            addr,
            cap,
            tracker_udp::encode_connect,
            tracker_udp::decode_connect_reply,
        )?;
        self.state().connected(id, self.now_ms());
        Ok(id)
    }

    /// Sends one request and waits for its answer, keeping the schedule.
    fn exchange<T>(
        &self,
        socket: &UdpSocket,
        addr: SocketAddr,
        cap: Duration,
        encode: impl Fn(u32) -> Vec<u8>,
        decode: impl Fn(&[u8], u32) -> Result<T, UdpTrackerError>,
    ) -> Result<T, UdpClientError> {
        let sent_at = self.now_ms();
        let wait_ms = {
            let state = self.state();
            state
                .may_send(sent_at)
                .map_err(|ms| UdpClientError::Resting { ms })?;
            state.wait_ms(cap.as_millis() as u64).max(1)
        };
        let tid = fastrand::u32(..);
        let io = |source| UdpClientError::Io { addr, source };
        let deadline = Instant::now() + Duration::from_millis(wait_ms);
        let unanswered = |state: &mut UdpRetry| state.timed_out(sent_at);
        if let Err(e) = socket.send(&encode(tid)) {
            unanswered(&mut self.state());
            return Err(io(e));
        }
        let mut buf = vec![0u8; DATAGRAM];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                unanswered(&mut self.state());
                return Err(UdpClientError::Timeout { addr, ms: wait_ms });
            }
            socket.set_read_timeout(Some(left)).map_err(io)?;
            let n = match socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A closed port (ICMP unreachable): as dead as silence, only sooner.
                Err(e) => {
                    unanswered(&mut self.state());
                    return Err(io(e));
                }
            };
            match decode(&buf[..n], tid) {
                Ok(v) => {
                    self.state().answered();
                    return Ok(v);
                }
                Err(UdpTrackerError::Refused(why)) => {
                    self.state().refused();
                    return Err(UdpClientError::Protocol {
                        addr,
                        source: UdpTrackerError::Refused(why),
                    });
                }
                Err(e) => debug!("udp tracker {addr}: dropped a {n}-byte datagram: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::tracker_udp::Request;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn announce() -> Announce {
        Announce {
            numwant: Some(50),
            ..Announce::started(InfoHash([3; 20]), [4; 20], 6881, 10)
        }
    }

    /// A tracker on loopback that first sends junk and a stale answer, then the
    /// real one; counts the connects it saw.
    fn fake_tracker() -> (SocketAddr, Arc<AtomicUsize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let connects = Arc::new(AtomicUsize::new(0));
        let seen = connects.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let junk = [0xffu8; 5];
                let _ = socket.send_to(&junk, from);
                match tracker_udp::decode_request(&buf[..n]) {
                    Ok(Request::Connect { transaction_id }) => {
                        seen.fetch_add(1, Ordering::SeqCst);
                        let stale = tracker_udp::encode_connect_reply(transaction_id ^ 1, 1);
                        let _ = socket.send_to(&stale, from);
                        let reply = tracker_udp::encode_connect_reply(transaction_id, 77);
                        let _ = socket.send_to(&reply, from);
                    }
                    Ok(Request::Announce {
                        connection_id,
                        transaction_id,
                        announce,
                    }) => {
                        let reply = if connection_id != 77 {
                            tracker_udp::encode_error(transaction_id, "bad connection id")
                        } else {
                            tracker_udp::encode_announce_reply(
                                transaction_id,
                                &AnnounceReply {
                                    interval: 60,
                                    peers: vec![(
                                        SocketAddr::from(([127, 0, 0, 9], announce.port)),
                                        [0; 20],
                                    )],
                                    ..Default::default()
                                },
                                tracker_udp::Family::V4,
                            )
                        };
                        let _ = socket.send_to(&reply, from);
                    }
                    _ => {}
                }
            }
        });
        (addr, connects)
    }

    #[test]
    fn announces_reuse_the_connection_id_and_ignore_junk() {
        let (addr, connects) = fake_tracker();
        let c = UdpTrackerClient::with_base(&format!("udp://{addr}/announce"), 2000).unwrap();
        for _ in 0..3 {
            let reply = c.announce(&announce(), Duration::from_secs(2)).unwrap();
            assert_eq!(reply.interval, 60);
            assert_eq!(reply.peers[0].0, SocketAddr::from(([127, 0, 0, 9], 6881)));
        }
        assert_eq!(
            connects.load(Ordering::SeqCst),
            1,
            "one connect for three announces"
        );
    }

    #[test]
    fn a_silent_tracker_is_asked_again_with_twice_the_timeout() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let url = format!("udp://{}", silent.local_addr().unwrap());
        let c = UdpTrackerClient::with_base(&url, 100).unwrap();
        let first = c.announce(&announce(), Duration::from_secs(10));
        assert!(
            matches!(first, Err(UdpClientError::Timeout { ms: 100, .. })),
            "{first:?}"
        );
        let second = c.announce(&announce(), Duration::from_secs(10));
        assert!(
            matches!(second, Err(UdpClientError::Timeout { ms: 200, .. })),
            "{second:?}"
        );
    }

    #[test]
    fn a_silent_tracker_costs_one_short_wait_then_rests() {
        // Bound and never read: datagrams to it are silently queued.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let url = format!("udp://{}", silent.local_addr().unwrap());
        // The schedule says wait 20 s; the caller waits 200 ms of it.
        let c = UdpTrackerClient::with_base(&url, 20_000).unwrap();
        let start = Instant::now();
        let first = c.announce(&announce(), Duration::from_millis(200));
        assert!(
            matches!(first, Err(UdpClientError::Timeout { ms: 200, .. })),
            "{first:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        // Within the rest of those 20 s it is not asked again.
        let second = c.announce(&announce(), Duration::from_millis(200));
        assert!(
            matches!(second, Err(UdpClientError::Resting { .. })),
            "{second:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_closed_port_fails_at_once() {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let c = UdpTrackerClient::with_base(&format!("udp://{port}"), 5000).unwrap();
        let start = Instant::now();
        assert!(c.announce(&announce(), Duration::from_secs(5)).is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
