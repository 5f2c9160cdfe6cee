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
pub mod ut_pex;

use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::time::Instant;

use super::outgoing::Outgoing;
use crate::common::extension_handshake::ExtensionHandshake;

/// The extensions we speak, with the id each peer is asked to send it under.
pub const OURS: &[(&str, u8)] = &[(ut_metadata::NAME, 1), (ut_pex::NAME, 2)];

/// What an extension message means for the rest of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionEvent {
    /// The peer's handshake named the port it listens on.
    ListenPort(u16),
    /// An answer to send back to the peer.
    Reply(Outgoing),
    /// Peer addresses the peer told us of (BEP 11).
    Pex(Vec<SocketAddr>),
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
    /// Peer exchange; None with `--no-pex`.
    pex: Option<ut_pex::PexState>,
}

impl PeerExtensions {
    pub fn new(metadata: Option<std::sync::Arc<[u8]>>, pex: Option<ut_pex::PexState>) -> Self {
        PeerExtensions {
            metadata,
            pex,
            ..Default::default()
        }
    }

    /// Our extension handshake: our ids, our listen port, and the metadata size.
    pub fn our_handshake(&self, listen_port: u16) -> Outgoing {
        let h = ExtensionHandshake {
            m: OURS
                .iter()
                .filter(|(name, _)| *name != ut_metadata::NAME || self.metadata.is_some())
                .filter(|(name, _)| *name != ut_pex::NAME || self.pex.is_some())
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

    /// True when a ut_pex message may be due to the peer: the caller then
    /// gathers the torrent's peers for [`Self::pex_message`].
    pub fn pex_due(&self, now: Instant) -> bool {
        self.peer_id_for(ut_pex::NAME).is_some() && self.pex.as_ref().is_some_and(|p| p.is_due(now))
    }

    /// The ut_pex message to send now, if one is due and anything changed.
    pub fn pex_message(&mut self, now: Instant, current: &[(SocketAddr, u8)]) -> Option<Outgoing> {
        let id = self.peer_id_for(ut_pex::NAME)?;
        let msg = self.pex.as_mut()?.next_message(now, current)?;
        Some(Outgoing::Extended(id, msg.encode()))
    }

    /// An extended message from the peer.
    pub fn on_message(&mut self, now: Instant, id: u8, payload: &[u8]) -> Option<ExtensionEvent> {
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
        self.dispatch(now, name, payload)
    }

    fn dispatch(&mut self, now: Instant, name: &str, payload: &[u8]) -> Option<ExtensionEvent> {
        match name {
            ut_pex::NAME => {
                let pex = self.pex.as_mut()?;
                match pex.take(now, payload) {
                    Some(addrs) => Some(ExtensionEvent::Pex(addrs)),
                    None => {
                        log::debug!(
                            "ignored a ut_pex message: malformed or too soon after the last"
                        );
                        None
                    }
                }
            }
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
mod tests;
