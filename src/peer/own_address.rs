//! Where this peer can be reached: its listening socket (dual-stack on `::`,
//! the default, so IPv4 and IPv6 peers both get in) and the global IPv6
//! address it tells trackers about (BEP 7), since a tracker reached over IPv4
//! cannot see it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use crate::sys::listen;

/// The listener on `bind`; `::` on a machine without IPv6 falls back to every
/// IPv4 address, since that is what "every address" means there.
pub fn listen_on(bind: IpAddr, port: u16) -> io::Result<TcpListener> {
    match listen::tcp_listener(SocketAddr::new(bind, port)) {
        Err(e) if bind == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && no_ipv6(&e) => {
            listen::tcp_listener(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
        }
        r => r,
    }
}

fn no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

/// Our global IPv6 address with the listening port, if we listen on IPv6 and
/// have one. For `::` it is the address the system would send from to the
/// IPv6 internet: connecting a UDP socket only looks the route up, and sends nothing.
pub fn global_ipv6(listening: SocketAddr) -> Option<SocketAddr> {
    let IpAddr::V6(ip) = listening.ip() else {
        return None;
    };
    let ip = if ip.is_unspecified() {
        let probe = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).ok()?;
        // 2001:db8::/32 is the documentation prefix: no one is there, and nothing is sent.
        probe
            .connect((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 6881))
            .ok()?;
        match probe.local_addr().ok()?.ip() {
            IpAddr::V6(v6) => v6,
            IpAddr::V4(_) => return None,
        }
    } else {
        ip
    };
    is_global(ip).then(|| SocketAddr::new(IpAddr::V6(ip), listening.port()))
}

/// Not loopback, unspecified, IPv4-mapped or link-local: an address another
/// host could dial (unique-local addresses count: they serve a LAN).
fn is_global(ip: Ipv6Addr) -> bool {
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.to_ipv4_mapped().is_some()
        || (ip.segments()[0] & 0xffc0) == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_others_can_dial_are_told() {
        let at = |s: &str| global_ipv6(s.parse().unwrap());
        assert_eq!(
            at("[2001:db8::5]:7000"),
            Some("[2001:db8::5]:7000".parse().unwrap())
        );
        assert_eq!(at("[::1]:7000"), None);
        assert_eq!(at("[fe80::1]:7000"), None);
        assert_eq!(at("127.0.0.1:7000"), None);
        assert!(is_global("fd00::1".parse().unwrap()));
    }

    #[test]
    fn the_default_listener_takes_ipv4_and_ipv6() {
        let l = listen_on(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).unwrap();
        let port = l.local_addr().unwrap().port();
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("over IPv4");
        std::net::TcpStream::connect(("::1", port)).expect("over IPv6");
    }
}
