//! Which program a peer runs, read from its peer id, so the detail pane says
//! "qBittorrent 4.6.5" where `status` once printed 40 hex digits.
//!
//! Most clients start their id Azureus-style: `-XXvvvv-`, two letters for the
//! client and four version characters (BEP 20). The names are those of
//! libtorrent's `identify_client`; aria2 and Mainline use shapes of their own.

/// Azureus-style codes people meet in practice, after BEP 20 and libtorrent.
/// libtorrent's table says `lt` for rakshasa's libTorrent; people know it as
/// rtorrent, the client built on it.
const CODES: &[(&[u8; 2], &str)] = &[
    (b"AR", "Arctic Torrent"),
    (b"AZ", "Azureus"),
    (b"BC", "BitComet"),
    (b"BT", "BitTorrent"),
    (b"DE", "Deluge"),
    (b"FD", "Free Download Manager"),
    (b"KT", "KTorrent"),
    (b"LT", "libtorrent"),
    (b"lt", "rtorrent"),
    (b"PI", "PicoTorrent"),
    (b"qB", "qBittorrent"),
    (b"TR", "Transmission"),
    (b"UT", "µTorrent"),
    (b"UM", "µTorrent Mac"),
    (b"WW", "WebTorrent"),
];

/// The client's name and version, or "unknown" for an id in no known shape.
/// `own` is this peer's id: a peer running swarmshare shares its client code,
/// whichever code that is.
pub fn client_name(id: &[u8; 20], own: &[u8; 20]) -> String {
    if let Some(v) = azureus_version(id) {
        let code = [id[1], id[2]];
        if own[0] == b'-' && code == [own[1], own[2]] {
            return format!("swarmshare {v}");
        }
        return match CODES.iter().find(|(c, _)| **c == code) {
            Some((_, name)) => format!("{name} {v}"),
            None => format!("unknown -{}{}-", code[0] as char, code[1] as char),
        };
    }
    if let Some(v) = dashed_version(id, b"A2-") {
        return format!("aria2 {v}");
    }
    if id[0] == b'M'
        && let Some(v) = dashed_version(id, b"M")
    {
        return format!("BitTorrent {v}");
    }
    "unknown".into()
}

/// `-XXabcd-`: the version a.b.c (d when not 0); letters count from 10.
fn azureus_version(id: &[u8; 20]) -> Option<String> {
    if id[0] != b'-' || id[7] != b'-' || !id[1..3].iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let digits: Option<Vec<u32>> = id[3..7].iter().map(|&c| version_digit(c)).collect();
    let d = digits?;
    Some(if d[3] == 0 {
        format!("{}.{}.{}", d[0], d[1], d[2])
    } else {
        format!("{}.{}.{}.{}", d[0], d[1], d[2], d[3])
    })
}

fn version_digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u32),
        b'A'..=b'Z' => Some((c - b'A') as u32 + 10),
        b'a'..=b'z' => Some((c - b'a') as u32 + 36),
        _ => None,
    }
}

/// `PREFIX1-37-0-`: numbers between dashes after a prefix (aria2 `A2-`,
/// Mainline `M7-4-3--`), the version being the first three.
fn dashed_version(id: &[u8; 20], prefix: &[u8]) -> Option<String> {
    let rest = id.strip_prefix(prefix)?;
    let text: String = rest
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'-')
        .map(|&c| c as char)
        .collect();
    let parts: Vec<&str> = text.split('-').take(3).collect();
    if parts.len() < 3 || parts.iter().any(|p| p.is_empty() || p.len() > 3) {
        return None;
    }
    Some(parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &str) -> [u8; 20] {
        let mut id = [b'x'; 20];
        id[..prefix.len()].copy_from_slice(prefix.as_bytes());
        id
    }

    const OWN: &str = "-SW0100-";

    #[test]
    fn azureus_style_ids_name_the_client_and_its_version() {
        let own = id(OWN);
        assert_eq!(client_name(&id("-qB4650-"), &own), "qBittorrent 4.6.5");
        assert_eq!(client_name(&id("-TR4040-"), &own), "Transmission 4.0.4");
        assert_eq!(client_name(&id("-LT2090-"), &own), "libtorrent 2.0.9");
        assert_eq!(client_name(&id("-lt0D80-"), &own), "rtorrent 0.13.8");
        assert_eq!(client_name(&id("-DE2110-"), &own), "Deluge 2.1.1");
        assert_eq!(client_name(&id("-UT3550-"), &own), "µTorrent 3.5.5");
        assert_eq!(client_name(&id("-AR1234-"), &own), "Arctic Torrent 1.2.3.4");
    }

    #[test]
    fn our_own_code_is_swarmshare_whatever_the_code_is() {
        assert_eq!(client_name(&id("-SW0100-"), &id(OWN)), "swarmshare 0.1.0");
        assert_eq!(
            client_name(&id("-ZZ0200-"), &id("-ZZ0100-")),
            "swarmshare 0.2.0"
        );
    }

    #[test]
    fn aria2_and_mainline_have_shapes_of_their_own() {
        let own = id(OWN);
        assert_eq!(client_name(&id("A2-1-37-0-"), &own), "aria2 1.37.0");
        assert_eq!(client_name(&id("M7-4-3--"), &own), "BitTorrent 7.4.3");
    }

    #[test]
    fn unknown_codes_and_shapes_say_so() {
        let own = id(OWN);
        assert_eq!(client_name(&id("-QQ1000-"), &own), "unknown -QQ-");
        assert_eq!(client_name(&[0; 20], &own), "unknown");
        assert_eq!(client_name(&id("-qB4!50-"), &own), "unknown");
        assert_eq!(client_name(&id("A2-x"), &own), "unknown");
    }
}
