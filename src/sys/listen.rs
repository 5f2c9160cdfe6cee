//! Listening sockets as our servers want them, with the options std cannot
//! set before bind. On the unspecified IPv6 address `::` a socket is always
//! dual-stack, whatever the system's `bindv6only` default: IPv4 clients then
//! arrive as IPv4-mapped IPv6 addresses, which callers make canonical.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

fn socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        s.set_only_v6(!addr.ip().is_unspecified())?;
    }
    Ok(s)
}

/// A TCP listener; `::` takes IPv4 and IPv6 clients alike.
pub fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = socket(addr, Type::STREAM, Protocol::TCP)?;
    // As std does: a restarted server can bind while old connections linger in TIME_WAIT.
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// A UDP socket that other workers may bind to the same address too
/// (SO_REUSEPORT): the kernel spreads clients over them.
pub fn udp_shared(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = socket(addr, Type::DGRAM, Protocol::UDP)?;
    s.set_reuse_port(true)?;
    // Room for a burst while a worker is busy; the kernel caps it at rmem_max.
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.bind(&addr.into())?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn the_unspecified_ipv6_address_takes_ipv4_clients_too() {
        let l = tcp_listener("[::]:0".parse().unwrap()).expect("IPv6 on this machine");
        let port = l.local_addr().unwrap().port();
        let _c = TcpStream::connect(("127.0.0.1", port)).expect("IPv4 into ::");
        let (_, from) = l.accept().unwrap();
        assert_eq!(from.ip().to_canonical(), std::net::Ipv4Addr::LOCALHOST);
    }
}
