//! Checks and stores whole pieces off the socket threads.
//!
//! A connection's reader hands each assembled piece here and goes back to
//! reading. Two stages follow, each on its own thread: a hasher checks the
//! piece against its hash, then a writer puts it in place, records it, and
//! returns the buffer. Hashing takes the CPU while a write mostly waits on the
//! disk (direct I/O, see `storage`), so the stages overlap instead of adding
//! up. One writer, because two writers of one file only take turns on its
//! inode lock (measured: spinning).
//! Both queues are bounded, so a slow disk slows the readers instead of
//! filling memory. A disk that refuses a write pauses the download (see
//! `Torrent::disk_refused`): the piece is not marked, and not asked for again;
//! it is offered to the disk again now and then, and once the disk takes it
//! the download resumes.

use std::sync::Arc;

use crossbeam_channel::Sender;
use log::warn;

use super::piece_buffer::PieceBuffer;
use super::piece_picker::PeerKey;
use super::storage::write_refusal;
use super::torrent::Torrent;

pub struct Job {
    pub torrent: Arc<Torrent>,
    pub key: PeerKey,
    pub index: u32,
    pub buf: PieceBuffer,
    /// Where the buffer goes back to, for reuse by the same connection.
    pub back: Sender<PieceBuffer>,
}

#[derive(Clone)]
pub struct Verifier {
    tx: Sender<Job>,
}

/// Pieces queued before each stage: enough to keep both busy, few enough
/// that memory stays at a handful of pieces whatever the file.
const QUEUED: usize = 1;

impl Verifier {
    pub fn start() -> Verifier {
        let (tx, hash_rx) = crossbeam_channel::bounded::<Job>(QUEUED);
        let (write_tx, write_rx) = crossbeam_channel::bounded::<Job>(QUEUED);
        let hasher = std::thread::Builder::new()
            .name("hash".into())
            .spawn(move || {
                for job in hash_rx {
                    if let Some(good) = hash(job)
                        && let Err(e) = write_tx.send(good)
                    {
                        write(e.into_inner());
                    }
                }
            });
        let writer = std::thread::Builder::new()
            .name("write".into())
            .spawn(move || {
                for job in write_rx {
                    write(job);
                }
            });
        if hasher.is_err() || writer.is_err() {
            warn!("cannot start the verifier threads; pieces are checked on the socket threads");
        }
        Verifier { tx }
    }

    /// Queues a piece; blocks while the stages are behind.
    pub fn submit(&self, job: Job) {
        if let Err(e) = self.tx.send(job) {
            // No hasher: do the work here rather than lose the piece.
            if let Some(good) = hash(e.into_inner()) {
                write(good);
            }
        }
    }
}

/// The job back if the piece matches its hash; a bad piece is reported and dropped.
fn hash(job: Job) -> Option<Job> {
    let meta = &job.torrent.meta;
    if meta.check_piece(job.index, &job.buf[..]) {
        return Some(job);
    }
    if let Some(buf) = job
        .torrent
        .piece_failed_keeping(job.key, job.index, job.buf)
    {
        let _ = job.back.try_send(buf);
    }
    None
}

fn write(job: Job) {
    let Job {
        torrent,
        key,
        index,
        buf,
        back,
    } = job;
    let at = index as u64 * torrent.meta.piece_length;
    let buf = match torrent.storage.write_at(at, &buf) {
        Ok(()) => {
            torrent.piece_verified(key, index);
            Some(buf)
        }
        Err(e) => {
            // Asking a peer for the piece again would only fetch bytes the disk
            // refuses once more: the download pauses until someone makes room.
            let reason = format!(
                "cannot write piece {index} of {} to {}: {e}: {}",
                torrent.meta.name,
                torrent.storage.location.display(),
                write_refusal(&e)
            );
            torrent.disk_refused(key, index, reason, buf)
        }
    };
    if let Some(buf) = buf {
        let _ = back.try_send(buf);
    }
}
