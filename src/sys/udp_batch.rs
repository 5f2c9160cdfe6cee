//! Datagrams in batches: `recvmmsg` and `sendmmsg` move up to `BATCH` datagrams
//! per system call, which is most of the cost of a one-packet-each-way protocol
//! such as BEP 15.
//!
//! Buffers are allocated once per worker; the header arrays point into them and
//! are rebuilt (cheaply) before each call, so nothing here is self-referential.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams per system call.
pub const BATCH: usize = 64;
/// The largest datagram taken; a longer one arrives truncated and is dropped.
/// BEP 15's largest request, a scrape of 74 torrents, is 1496 bytes.
pub const MAX_DATAGRAM: usize = 2048;

/// Received datagrams and where each came from.
pub struct RecvBatch {
    bufs: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    len: usize,
}

// The raw pointers in `iovs` and `hdrs` point only into this value's own
// buffers, are rebuilt before every use, and are never shared.
unsafe impl Send for RecvBatch {}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch::new()
    }
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: vec![0; BATCH * MAX_DATAGRAM],
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs
            // for which all-zero bytes are a valid value.
            names: vec![unsafe { mem::zeroed() }; BATCH],
            iovs: vec![unsafe { mem::zeroed() }; BATCH],
            hdrs: vec![unsafe { mem::zeroed() }; BATCH],
            len: 0,
        }
    }

    /// Blocks until at least one datagram arrives, then takes what is queued,
    /// up to `BATCH`. Returns how many.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i * MAX_DATAGRAM..].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at a live buffer of the length it
        // declares, all owned by `self` and untouched until the call returns.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.len = 0;
            return Err(io::Error::last_os_error());
        }
        self.len = n as usize;
        Ok(self.len)
    }

    /// The `i`-th datagram of the last `recv`, unless it was truncated or
    /// came from an address family we do not speak.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if i >= self.len {
            return None;
        }
        let h = &self.hdrs[i];
        if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let from = from_storage(&self.names[i])?;
        let len = (h.msg_len as usize).min(MAX_DATAGRAM);
        Some((&self.bufs[i * MAX_DATAGRAM..i * MAX_DATAGRAM + len], from))
    }
}

/// Datagrams to send, each to its own address.
pub struct SendBatch {
    names: Vec<libc::sockaddr_storage>,
    name_lens: Vec<libc::socklen_t>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// As for `RecvBatch`: the pointers are rebuilt for each call and are never shared.
unsafe impl Send for SendBatch {}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch::new()
    }
}

impl SendBatch {
    pub fn new() -> SendBatch {
        SendBatch {
            // SAFETY: as in `RecvBatch::new`.
            names: vec![unsafe { mem::zeroed() }; BATCH],
            name_lens: vec![0; BATCH],
            iovs: vec![unsafe { mem::zeroed() }; BATCH],
            hdrs: vec![unsafe { mem::zeroed() }; BATCH],
        }
    }

    /// Sends `out[i]` to `to[i]` for each i (at most `BATCH`). A datagram the
    /// kernel refuses (an unreachable address, say) is skipped, not retried:
    /// UDP clients retry on their own schedule. Returns how many were sent.
    pub fn send(&mut self, socket: &UdpSocket, to: &[SocketAddr], out: &[Vec<u8>]) -> usize {
        let n = to.len().min(out.len()).min(BATCH);
        for i in 0..n {
            self.name_lens[i] = to_storage(to[i], &mut self.names[i]);
            self.iovs[i] = libc::iovec {
                iov_base: out[i].as_ptr() as *mut libc::c_void,
                iov_len: out[i].len(),
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = self.name_lens[i];
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        let (mut done, mut sent) = (0, 0);
        while done < n {
            // SAFETY: headers `done..n` point at addresses in `self` and at the
            // caller's buffers, which outlive the call and are only read.
            let r = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    self.hdrs[done..].as_mut_ptr(),
                    (n - done) as libc::c_uint,
                    0,
                )
            };
            if r < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                done += 1;
            } else {
                done += r as usize;
                sent += r as usize;
            }
        }
        sent
    }
}

fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for any sockaddr.
            let a = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn to_storage(addr: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(s as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            sin.sin_zero = [0; 8];
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(s as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::listen::udp_shared as bind_shared;

    #[test]
    fn a_batch_goes_out_and_comes_back_with_its_sources() {
        let server = bind_shared("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let twin = bind_shared(addr).expect("a second worker binds the same port");
        drop(twin);
        let clients: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[i as u8; 20], addr).unwrap();
        }
        let big = UdpSocket::bind("127.0.0.1:0").unwrap();
        big.send_to(&vec![9; MAX_DATAGRAM + 1], addr).unwrap();
        let mut rx = RecvBatch::new();
        let mut got = Vec::new();
        while got.len() < 4 {
            let n = rx.recv(&server).unwrap();
            got.extend((0..n).map(|i| rx.get(i).map(|(b, from)| (b.to_vec(), from))));
        }
        let ok: Vec<_> = got.iter().flatten().cloned().collect();
        assert_eq!(ok.len(), 3, "the truncated datagram is dropped");
        let to: Vec<SocketAddr> = ok.iter().map(|(_, from)| *from).collect();
        let out: Vec<Vec<u8>> = ok
            .iter()
            .map(|(b, _)| b.iter().map(|x| x + 1).collect())
            .collect();
        assert_eq!(SendBatch::new().send(&server, &to, &out), 3);
        for (i, c) in clients.iter().enumerate() {
            let mut buf = [0; 64];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&[i as u8 + 1; 20][..], addr));
        }
    }
}
