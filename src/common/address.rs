//! What a person may type as a host: a dotted quad, an IPv6 literal or a host
//! name. The C resolver also takes `1.2.3` (as 1.2.0.3) and `1.2` (as 1.0.0.2);
//! a typo like that must not quietly contact some other machine, so anything
//! made only of digits and dots has to be a full dotted quad. Pure: names are
//! checked here and resolved by the caller.

use core::net::{IpAddr, SocketAddr};

use thiserror::Error;

/// A host as typed, checked but not resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    #[error("{0:?} is not a full IPv4 address: write four numbers, like 192.168.1.20")]
    ShortIpv4(String),
    #[error("{0:?} is not an IPv4 address: each of the four numbers is 0 to 255")]
    BadIpv4(String),
    #[error("{0:?} is not an IPv6 address")]
    BadIpv6(String),
    #[error("{0:?} is not a host name (letters, digits, '-' and '.')")]
    BadName(String),
    #[error("{0:?} needs a port: HOST:PORT, or [IPv6]:PORT")]
    NoPort(String),
    #[error("{0:?} has no valid port (1 to 65535)")]
    BadPort(String),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

impl Host {
    /// `HOST:PORT` as `parse_host_port` reads it back: IPv6 in brackets.
    pub fn with_port(&self, port: u16) -> String {
        match self {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            h => format!("{h}:{port}"),
        }
    }
}

/// Parses a host: an IP literal (IPv6 also in brackets) or a host name.
pub fn parse_host(s: &str) -> Result<Host, AddressError> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = inner.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if inner.contains(':') || inner.len() != s.len() {
        return Err(AddressError::BadIpv6(s.to_owned()));
    }
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let parts = s.split('.').count();
        return Err(if parts < 4 {
            AddressError::ShortIpv4(s.to_owned())
        } else {
            AddressError::BadIpv4(s.to_owned())
        });
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    // A last label of digits only would be read as a number by the resolver.
    let last_numeric = name
        .rsplit('.')
        .next()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()));
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) || last_numeric {
        return Err(AddressError::BadName(s.to_owned()));
    }
    Ok(Host::Name(s.to_owned()))
}

/// Parses `HOST:PORT`, where an IPv6 host is written in brackets.
pub fn parse_host_port(s: &str) -> Result<(Host, u16), AddressError> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err(AddressError::BadPort(s.to_owned()));
        }
        return Ok((Host::Ip(a.ip()), a.port()));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if h.starts_with('[') || !h.contains(':') => (h, p),
        _ => return Err(AddressError::NoPort(s.to_owned())),
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| AddressError::BadPort(s.to_owned()))?;
    Ok((parse_host(host)?, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_are_taken_as_they_are() {
        assert_eq!(parse_host("1.2.3.4"), Ok(Host::Ip([1, 2, 3, 4].into())));
        assert_eq!(parse_host("::1"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(parse_host("[::1]"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(
            parse_host("fe80::1:2"),
            Ok(Host::Ip("fe80::1:2".parse().unwrap()))
        );
    }

    #[test]
    fn short_dotted_forms_are_errors_not_other_addresses() {
        for s in ["1.2.3", "1.2", "1", "127.1"] {
            assert_eq!(parse_host(s), Err(AddressError::ShortIpv4(s.into())), "{s}");
        }
        for s in ["1.2.3.256", "1.2.3.4.5", "1..2.3", "01.2.3.4."] {
            assert_eq!(parse_host(s), Err(AddressError::BadIpv4(s.into())), "{s}");
        }
        let msg = parse_host("1.2.3").unwrap_err().to_string();
        assert_eq!(
            msg,
            "\"1.2.3\" is not a full IPv4 address: write four numbers, like 192.168.1.20"
        );
    }

    #[test]
    fn host_names_are_checked_but_not_resolved() {
        for s in ["localhost", "tracker.example.org", "a-b.c1", "host.local."] {
            assert_eq!(parse_host(s), Ok(Host::Name(s.into())), "{s}");
        }
        for s in ["", "-a.b", "a..b", "a_b", "a b", "x.123", "::g"] {
            assert!(parse_host(s).is_err(), "{s}");
        }
    }

    #[test]
    fn host_and_port_pairs() {
        assert_eq!(
            parse_host_port("1.2.3.4:6881"),
            Ok((Host::Ip([1, 2, 3, 4].into()), 6881))
        );
        assert_eq!(
            parse_host_port("[::1]:80"),
            Ok((Host::Ip("::1".parse().unwrap()), 80))
        );
        assert_eq!(
            parse_host_port("seed.example:51413"),
            Ok((Host::Name("seed.example".into()), 51413))
        );
        assert_eq!(
            parse_host_port("1.2.3:80"),
            Err(AddressError::ShortIpv4("1.2.3".into()))
        );
        assert!(matches!(
            parse_host_port("1.2.3.4"),
            Err(AddressError::NoPort(_))
        ));
        assert!(matches!(
            parse_host_port("::1"),
            Err(AddressError::NoPort(_))
        ));
        assert!(matches!(
            parse_host_port("a.example:0"),
            Err(AddressError::BadPort(_))
        ));
        assert!(matches!(
            parse_host_port("a.example:x"),
            Err(AddressError::BadPort(_))
        ));
    }
}
