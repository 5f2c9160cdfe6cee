//! Inbound connections up to their handshake, all on one epoll-driven thread.
//!
//! A connection costs a thread only once its handshake is in, so a flood of
//! connections that send nothing, or send slowly, costs one file descriptor
//! each for at most `timeout`, and never more than `max_pending` at once: past
//! that the oldest pending one is closed, because an honest peer's handshake
//! arrives within a round trip and an idle one is the likeliest attacker.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use log::{debug, warn};

use crate::common::wire::{HANDSHAKE_LEN, Handshake};
use crate::sys::epoll::{self, Epoll};

struct Pending {
    stream: TcpStream,
    addr: SocketAddr,
    buf: [u8; HANDSHAKE_LEN],
    got: usize,
    deadline: Instant,
}

const LISTENER: u64 = 0;

/// Accepts and reads handshakes forever; each complete one goes to `done`,
/// with the stream back in blocking mode and nothing read past the handshake.
pub fn run(
    listener: TcpListener,
    max_pending: usize,
    timeout: Duration,
    mut done: impl FnMut(TcpStream, SocketAddr, Handshake),
) -> io::Result<()> {
    let epoll = Epoll::new()?;
    listener.set_nonblocking(true)?;
    epoll.add(listener.as_raw_fd(), LISTENER)?;
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut arrival: VecDeque<u64> = VecDeque::new();
    let mut next_token = LISTENER + 1;
    let mut events = epoll::events(256);
    let close = |pending: &mut HashMap<u64, Pending>, token: u64| {
        if let Some(p) = pending.remove(&token) {
            let _ = epoll.delete(p.stream.as_raw_fd());
            Some(p)
        } else {
            None
        }
    };
    loop {
        let wait = pending
            .values()
            .map(|p| p.deadline.saturating_duration_since(Instant::now()))
            .min()
            .map_or(Duration::from_secs(1), |d| d.min(Duration::from_secs(1)));
        for token in epoll.wait(&mut events, wait)? {
            if token == LISTENER {
                loop {
                    let (stream, addr) = match listener.accept() {
                        // The dual-stack listener shows IPv4 peers IPv4-mapped:
                        // one peer, one form, for the peer table and its caps.
                        Ok((s, a)) => (s, SocketAddr::new(a.ip().to_canonical(), a.port())),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            // Out of descriptors, most likely: what is pending
                            // times out and frees some; do not spin meanwhile.
                            warn!("cannot accept a connection: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                            break;
                        }
                    };
                    while pending.len() >= max_pending {
                        let Some(old) = arrival.pop_front() else {
                            break;
                        };
                        if let Some(p) = close(&mut pending, old) {
                            debug!("too many handshakes pending: closed {}", p.addr);
                        }
                    }
                    let token = next_token;
                    next_token += 1;
                    if stream.set_nonblocking(true).is_err()
                        || epoll.add(stream.as_raw_fd(), token).is_err()
                    {
                        continue;
                    }
                    pending.insert(
                        token,
                        Pending {
                            stream,
                            addr,
                            buf: [0; HANDSHAKE_LEN],
                            got: 0,
                            deadline: Instant::now() + timeout,
                        },
                    );
                    arrival.push_back(token);
                }
                continue;
            }
            let Some(p) = pending.get_mut(&token) else {
                continue;
            };
            let finished = match p.stream.read(&mut p.buf[p.got..]) {
                Ok(0) => Err(()),
                Ok(k) => {
                    p.got += k;
                    Ok(p.got == HANDSHAKE_LEN)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    Ok(false)
                }
                Err(_) => Err(()),
            };
            match finished {
                Ok(false) => {}
                Err(()) => {
                    close(&mut pending, token);
                }
                Ok(true) => {
                    let Some(p) = close(&mut pending, token) else {
                        continue;
                    };
                    match Handshake::decode(&p.buf) {
                        Ok(hs) if p.stream.set_nonblocking(false).is_ok() => {
                            done(p.stream, p.addr, hs)
                        }
                        Ok(_) => {}
                        Err(e) => debug!("bad handshake from {}: {e}", p.addr),
                    }
                }
            }
        }
        let now = Instant::now();
        let expired: Vec<u64> = pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&t, _)| t)
            .collect();
        for t in expired {
            if let Some(p) = close(&mut pending, t) {
                debug!("no handshake from {} in time", p.addr);
            }
        }
        // Tokens of closed connections are dropped lazily, but never pile up.
        if arrival.len() > 4 * max_pending.max(16) {
            arrival.retain(|t| pending.contains_key(t));
        }
    }
}
