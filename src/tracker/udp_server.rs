//! The tracker's UDP shell: worker threads, each owning one SO_REUSEPORT
//! socket on the same address, each a loop of one `recvmmsg`, the answers of
//! `UdpEndpoint`, and one `sendmmsg`. Workers share the tracker's state (the
//! same registry HTTP uses) and the connection-id secret, and nothing else:
//! each has its own flood guard (the kernel sends a given client to the same
//! worker every time) and its own buffers, allocated once.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use log::warn;

use super::connection_ids::ConnectionIds;
use super::udp_endpoint::{Swarms, UdpEndpoint};
use crate::sys::listen;
use crate::sys::udp_batch::{BATCH, RecvBatch, SendBatch};

/// `workers` sockets on `addr`, all on the port the first one got.
///
/// SO_REUSEPORT would also let this process join sockets that another one of
/// the same user holds on that port, silently splitting its clients between
/// the two: a plain bind first proves the port is free.
pub fn bind(addr: SocketAddr, workers: usize) -> io::Result<Vec<UdpSocket>> {
    let probe = UdpSocket::bind(addr)?;
    let bound = probe.local_addr()?;
    drop(probe);
    (0..workers.max(1))
        .map(|_| listen::udp_shared(bound))
        .collect()
}

/// Starts one worker per socket; they run until the process ends. They share
/// one clock, as connection ids are issued by one worker and checked by another
/// if the kernel moves a client.
pub fn spawn<S: Swarms + Send + Sync + 'static>(
    swarms: Arc<S>,
    sockets: Vec<UdpSocket>,
    rate_limit: u32,
) -> io::Result<()> {
    let ids = ConnectionIds::new();
    let epoch = Instant::now();
    for (i, socket) in sockets.into_iter().enumerate() {
        let s = Arc::clone(&swarms);
        let endpoint = UdpEndpoint::new(ids.clone(), rate_limit);
        std::thread::Builder::new()
            .name(format!("udp-{i}"))
            .spawn(move || run(&*s, &socket, endpoint, epoch))?;
    }
    Ok(())
}

fn run(swarms: &impl Swarms, socket: &UdpSocket, mut endpoint: UdpEndpoint, epoch: Instant) {
    let mut rx = RecvBatch::new();
    let mut tx = SendBatch::new();
    let mut out: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(1500)).collect();
    let mut to: Vec<SocketAddr> = Vec::with_capacity(BATCH);
    loop {
        let n = match rx.recv(socket) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Not seen in practice (ICMP errors do not reach recvmmsg on an
                // unconnected socket); a pause keeps a persistent one from spinning.
                warn!("UDP receive failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let now_ms = epoch.elapsed().as_millis() as u64;
        to.clear();
        for i in 0..n {
            let Some((datagram, from)) = rx.get(i) else {
                continue;
            };
            if endpoint.answer(datagram, from, now_ms, swarms, &mut out[to.len()]) {
                to.push(from);
            }
        }
        tx.send(socket, &to, &out[..to.len()]);
    }
}
