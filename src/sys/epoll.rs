//! Linux epoll, for the one thread that watches many sockets instead of
//! spending a thread on each: the tracker's connection loop and the peer's
//! handshake reader. Level-triggered, readable events only, one `u64` token
//! per descriptor.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub struct Epoll(OwnedFd);

/// Room for the events one `wait` returns.
pub type Events = Vec<libc::epoll_event>;

pub fn events(capacity: usize) -> Events {
    vec![libc::epoll_event { events: 0, u64: 0 }; capacity]
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: a valid epoll descriptor; the kernel copies `ev`.
        if unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reports `fd` as `token` whenever it is readable.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token)
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0)
    }

    /// Waits up to `timeout` (rounded up to a millisecond) and returns the tokens
    /// that are ready; an interrupted wait returns none.
    pub fn wait<'a>(
        &self,
        events: &'a mut Events,
        timeout: Duration,
    ) -> io::Result<impl Iterator<Item = u64> + use<'a>> {
        let ms = timeout.as_millis().saturating_add(1).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: a valid epoll descriptor and a buffer of the length given.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                ms,
            )
        };
        let n = if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            0
        } else {
            n as usize
        };
        Ok(events[..n].iter().map(|ev| ev.u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reports_a_readable_descriptor_by_its_token() {
        let ep = Epoll::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        ep.add(b.as_raw_fd(), 7).unwrap();
        let mut ev = events(4);
        assert_eq!(ep.wait(&mut ev, Duration::ZERO).unwrap().count(), 0);
        a.write_all(b"x").unwrap();
        let ready: Vec<u64> = ep.wait(&mut ev, Duration::from_secs(1)).unwrap().collect();
        assert_eq!(ready, vec![7]);
        ep.delete(b.as_raw_fd()).unwrap();
        assert_eq!(ep.wait(&mut ev, Duration::ZERO).unwrap().count(), 0);
    }
}
