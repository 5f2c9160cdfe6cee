//! Peer ids as people read them: ours, and the client name and version other
//! clients put in theirs (BEP 20's Azureus style `-XX1234-` and the mainline
//! style `M4-3-6--`).
//!
//! Our code is `SW`: BEP 20's list and libtorrent's `identify_client` table
//! have no `SW` (the `SS` used before is SwarmScope's, and rtorrent named us
//! so).

/// The first eight bytes of our peer id: our client code and version 0.1.0.0.
pub const OURS: &[u8; 8] = b"-SW0100-";
/// The prefix earlier versions used; ids made with it are given ours.
pub const FORMER: &[u8; 8] = b"-SS0100-";

/// Azureus-style codes of clients a swarmshare peer is likely to meet.
const CLIENTS: &[(&[u8; 2], &str)] = &[
    (b"SW", "swarmshare"),
    (b"AZ", "Azureus"),
    (b"BC", "BitComet"),
    (b"BT", "BitTorrent"),
    (b"DE", "Deluge"),
    (b"FW", "FrostWire"),
    (b"KT", "KTorrent"),
    (b"LT", "libtorrent"),
    (b"lt", "rTorrent"),
    (b"PI", "PicoTorrent"),
    (b"qB", "qBittorrent"),
    (b"SS", "SwarmScope"),
    (b"TR", "Transmission"),
    (b"UM", "uTorrent Mac"),
    (b"UT", "uTorrent"),
    (b"UW", "uTorrent Web"),
    (b"WW", "WebTorrent"),
    (b"XL", "Xunlei"),
];

/// One version digit: 0-9, then A-Z for 10-35, as BEP 20 clients write them.
fn digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u32),
        b'A'..=b'Z' => Some((c - b'A') as u32 + 10),
        _ => None,
    }
}

/// The client and version an id names, e.g. `qBittorrent 4.6.2`; an unknown
/// code is shown as itself, an id in no known style as `unknown client`.
pub fn client_name(id: &[u8; 20]) -> String {
    if id[0] == b'-' && id[7] == b'-' && id[1].is_ascii_graphic() && id[2].is_ascii_graphic() {
        let code = [id[1], id[2]];
        if let Some(v) = id[3..7]
            .iter()
            .map(|&c| digit(c))
            .collect::<Option<Vec<u32>>>()
        {
            let name = CLIENTS.iter().find(|(c, _)| **c == code).map_or_else(
                || String::from_utf8_lossy(&code).into_owned(),
                |(_, n)| (*n).to_owned(),
            );
            let mut version = format!("{}.{}.{}", v[0], v[1], v[2]);
            if v[3] != 0 {
                version.push_str(&format!(".{}", v[3]));
            }
            return format!("{name} {version}");
        }
    }
    // Mainline: M4-3-6-- or M4-20-8-.
    if id[0] == b'M' {
        let text = String::from_utf8_lossy(&id[1..8]);
        let parts: Vec<&str> = text.split('-').take(3).collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return format!("BitTorrent {}.{}.{}", parts[0], parts[1], parts[2]);
        }
    }
    "unknown client".to_owned()
}

/// The same, from the 40 hex digits the ledger keeps; None if they are not an id.
pub fn client_name_hex(hex: &str) -> Option<String> {
    if hex.len() != 40 || !hex.is_ascii() {
        return None;
    }
    let mut id = [0u8; 20];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(client_name(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &[u8]) -> [u8; 20] {
        let mut id = [b'x'; 20];
        id[..prefix.len()].copy_from_slice(prefix);
        id
    }

    #[test]
    fn ours_is_named_swarmshare_with_the_crate_version() {
        assert_eq!(client_name(&id(OURS)), "swarmshare 0.1.0");
        assert_eq!(
            format!("swarmshare {}", env!("CARGO_PKG_VERSION")),
            client_name(&id(OURS)),
            "OURS must follow the crate's version"
        );
    }

    #[test]
    fn azureus_style_ids_name_the_client_and_version() {
        assert_eq!(client_name(&id(b"-qB4620-")), "qBittorrent 4.6.2");
        assert_eq!(client_name(&id(b"-TR3000-")), "Transmission 3.0.0");
        assert_eq!(client_name(&id(b"-LT2010-")), "libtorrent 2.0.1");
        assert_eq!(client_name(&id(b"-lt0D80-")), "rTorrent 0.13.8");
        assert_eq!(client_name(&id(b"-UT355W-")), "uTorrent 3.5.5.32");
        // Unknown codes are shown as they are; not the former SS as ours.
        assert_eq!(client_name(&id(b"-ZZ1234-")), "ZZ 1.2.3.4");
        assert_eq!(client_name(&id(FORMER)), "SwarmScope 0.1.0");
    }

    #[test]
    fn mainline_and_unreadable_ids() {
        assert_eq!(client_name(&id(b"M4-3-6--")), "BitTorrent 4.3.6");
        assert_eq!(client_name(&id(b"M4-20-8-")), "BitTorrent 4.20.8");
        assert_eq!(client_name(&[0; 20]), "unknown client");
        assert_eq!(client_name(&id(b"-qB4.2x-")), "unknown client");
    }

    #[test]
    fn hex_ids_from_the_ledger() {
        let hex: String = id(b"-qB4620-").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(client_name_hex(&hex).as_deref(), Some("qBittorrent 4.6.2"));
        assert_eq!(client_name_hex("abc"), None);
        assert_eq!(client_name_hex(&"zz".repeat(20)), None);
    }
}
