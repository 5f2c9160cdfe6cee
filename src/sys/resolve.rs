//! Turns a checked host (`common::address`) into a socket address. Names go to
//! the system resolver only after the check, so `1.2.3` never reaches it.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::common::address::{self, Host};

/// The first address of a host, IPv4 preferred (our tracker lists IPv4 peers).
pub fn resolve(host: &Host, port: u16) -> io::Result<SocketAddr> {
    match host {
        Host::Ip(ip) => Ok(SocketAddr::new(*ip, port)),
        Host::Name(name) => {
            let addrs: Vec<SocketAddr> = (name.as_str(), port).to_socket_addrs()?.collect();
            addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or(addrs.first())
                .copied()
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("no address for {name}"))
                })
        }
    }
}

/// Parses and resolves what a person typed as a host; the error is one line.
pub fn host(s: &str, port: u16) -> Result<SocketAddr, String> {
    let h = address::parse_host(s).map_err(|e| e.to_string())?;
    resolve(&h, port).map_err(|e| format!("cannot find host {s:?}: {e}"))
}

/// Parses and resolves `HOST:PORT`; the error is one line.
pub fn host_port(s: &str) -> Result<SocketAddr, String> {
    let (h, port) = address::parse_host_port(s).map_err(|e| e.to_string())?;
    resolve(&h, port).map_err(|e| format!("cannot find host {s:?}: {e}"))
}
