//! BEP 10 extension messages: the one place that knows which extensions we
//! speak, under which ids, and which module handles each.
//!
//! The extension handshake tells the peer our `m` map (name → the id it
//! must use when sending that extension to us) and we keep its map (the ids
//! we must use towards it). An incoming message carries one of OUR ids, so it
//! is looked up in [`OURS`] and handed, by name, to that extension's module.
//! Adding an extension (PEX, BEP 11) is a new module here plus one line in
//! `OURS` and one in `dispatch`. Pure: no I/O.

pub mod ut_metadata;

use std::collections::BTreeMap;

use super::outgoing::Outgoing;
use crate::common::extension_handshake::ExtensionHandshake;

/// The extensions we speak, with the id each peer is asked to send it under.
pub const OURS: &[(&str, u8)] = &[(ut_metadata::NAME, 1)];

/// What an extension message means for the rest of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionEvent {
    /// The peer's handshake named the port it listens on.
    ListenPort(u16),
    /// An answer to send back to the peer.
    Reply(Outgoing),
}

/// One connection's view of the extensions: the peer's ids, and what we
/// offer it.
#[derive(Debug, Default)]
pub struct PeerExtensions {
    /// The peer's `m`: the id to use for each extension we send it.
    theirs: BTreeMap<String, u8>,
    /// The info dictionary, served with BEP 9; None when we have no metadata to serve.
    metadata: Option<std::sync::Arc<[u8]>>,
    metadata_served: usize,
}

impl PeerExtensions {
    pub fn new(metadata: Option<std::sync::Arc<[u8]>>) -> Self {
        PeerExtensions {
            metadata,
            ..Default::default()
        }
    }

    /// Our extension handshake: our ids, our listen port, and the metadata size.
    pub fn our_handshake(&self, listen_port: u16) -> Outgoing {
        let h = ExtensionHandshake {
            m: OURS
                .iter()
                .filter(|(name, _)| *name != ut_metadata::NAME || self.metadata.is_some())
                .map(|&(name, id)| (name.to_owned(), id))
                .collect(),
            listen_port: Some(listen_port),
            client: Some(concat!("swarmshare ", env!("CARGO_PKG_VERSION")).into()),
            metadata_size: self.metadata.as_ref().map(|m| m.len() as u64),
        };
        Outgoing::Extended(0, h.encode())
    }

    /// The id the peer wants extension `name` sent under, if it speaks it.
    pub fn peer_id_for(&self, name: &str) -> Option<u8> {
        self.theirs.get(name).copied()
    }

    /// An extended message from the peer.
    pub fn on_message(&mut self, id: u8, payload: &[u8]) -> Option<ExtensionEvent> {
        if id == 0 {
            let h = ExtensionHandshake::decode(payload)?;
            // A later handshake updates the map; id 0 withdraws an extension.
            for (name, id) in h.m {
                if id == 0 {
                    self.theirs.remove(&name);
                } else {
                    self.theirs.insert(name, id);
                }
            }
            return h.listen_port.map(ExtensionEvent::ListenPort);
        }
        let &(name, _) = OURS.iter().find(|&&(_, ours)| ours == id)?;
        self.dispatch(name, payload)
    }

    fn dispatch(&mut self, name: &str, payload: &[u8]) -> Option<ExtensionEvent> {
        match name {
            ut_metadata::NAME => {
                let reply_id = self.peer_id_for(ut_metadata::NAME)?;
                let metadata = self.metadata.as_deref()?;
                let reply = ut_metadata::answer(metadata, payload, &mut self.metadata_served)?;
                Some(ExtensionEvent::Reply(Outgoing::Extended(reply_id, reply)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake_of(out: Outgoing) -> ExtensionHandshake {
        let Outgoing::Extended(0, bytes) = out else {
            panic!("not an extension handshake: {out:?}");
        };
        ExtensionHandshake::decode(&bytes).unwrap()
    }

    #[test]
    fn our_handshake_offers_metadata_only_when_we_have_it() {
        let without = handshake_of(PeerExtensions::new(None).our_handshake(7000));
        assert!(without.m.is_empty());
        assert_eq!(without.listen_port, Some(7000));
        assert_eq!(without.metadata_size, None);
        let with = handshake_of(PeerExtensions::new(Some(vec![0; 40_000].into())).our_handshake(1));
        assert_eq!(with.m.get("ut_metadata"), Some(&1));
        assert_eq!(with.metadata_size, Some(40_000));
    }

    #[test]
    fn keeps_the_peers_ids_and_dispatches_ours_by_name() {
        let mut ext = PeerExtensions::new(Some(vec![7; 100].into()));
        let theirs = ExtensionHandshake {
            m: BTreeMap::from([("ut_metadata".into(), 9), ("ut_pex".into(), 4)]),
            listen_port: Some(51413),
            ..Default::default()
        };
        assert_eq!(
            ext.on_message(0, &theirs.encode()),
            Some(ExtensionEvent::ListenPort(51413))
        );
        assert_eq!(ext.peer_id_for("ut_pex"), Some(4));
        // A request comes under our id (1); the answer goes under theirs (9).
        let reply = ext.on_message(1, b"d8:msg_typei0e5:piecei0ee");
        let Some(ExtensionEvent::Reply(Outgoing::Extended(9, bytes))) = reply else {
            panic!("no metadata answer: {reply:?}");
        };
        assert!(bytes.ends_with(&[7; 100]));
        // Ids we never gave out are ignored, not fatal.
        assert_eq!(ext.on_message(42, b"de"), None);
        // A second handshake withdraws an extension with id 0.
        let withdraw = ExtensionHandshake {
            m: BTreeMap::from([("ut_metadata".into(), 0)]),
            ..Default::default()
        };
        assert_eq!(ext.on_message(0, &withdraw.encode()), None);
        assert_eq!(ext.peer_id_for("ut_metadata"), None);
        assert_eq!(ext.on_message(1, b"d8:msg_typei0e5:piecei0ee"), None);
    }
}
