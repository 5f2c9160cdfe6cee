//! Checks and stores whole pieces off the socket threads.
//!
//! A connection's reader hands each assembled piece here and goes back to
//! reading; a worker hashes it, writes it in place, records it, and returns the
//! buffer. The queue is bounded, so a slow disk slows the readers instead of
//! filling memory.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use log::warn;
use sha1::{Digest, Sha1};

use super::piece_picker::PeerKey;
use super::torrent::{PeerShared, Torrent};

pub struct Job {
    pub torrent: Arc<Torrent>,
    pub key: PeerKey,
    pub index: u32,
    pub buf: Vec<u8>,
    pub shared: Arc<PeerShared>,
    /// Where the buffer goes back to, for reuse by the same connection.
    pub back: Sender<Vec<u8>>,
}

pub struct Verifier {
    tx: Sender<Job>,
}

impl Verifier {
    pub fn start(workers: usize) -> Verifier {
        // One queued piece per worker: memory stays at a few pieces, whatever the file.
        let (tx, rx) = crossbeam_channel::bounded::<Job>(workers);
        for i in 0..workers {
            let rx: Receiver<Job> = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("verify{i}"))
                .spawn(move || {
                    for job in rx {
                        verify(job);
                    }
                });
        }
        Verifier { tx }
    }

    /// Queues a piece; blocks while the workers are behind.
    pub fn submit(&self, job: Job) {
        if let Err(e) = self.tx.send(job) {
            // No workers: do the work here rather than lose the piece.
            verify(e.into_inner());
        }
    }
}

fn verify(job: Job) {
    let Job {
        torrent,
        key,
        index,
        buf,
        shared,
        back,
    } = job;
    let meta = &torrent.meta;
    let good = <[u8; 20]>::from(Sha1::digest(&buf)) == meta.piece_hashes[index as usize];
    if !good {
        if torrent.piece_failed(key, index) {
            shared.disconnect();
        }
    } else if let Err(e) = torrent
        .storage
        .write_at(index as u64 * meta.piece_length, &buf)
    {
        warn!(
            "cannot write piece {index} to {}: {e}; is the disk full or the download folder read-only?",
            torrent.storage.location.display()
        );
        torrent.release(key, &[index]);
    } else {
        torrent.piece_verified(key, index);
    }
    let _ = back.try_send(buf);
}
