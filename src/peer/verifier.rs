//! Checks and stores whole pieces off the socket threads.
//!
//! A connection's reader hands each assembled piece here and goes back to
//! reading. Two stages follow, each on its own thread: a hasher checks the
//! piece against its SHA-1, then a writer puts it in place, records it, and
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
use std::time::Duration;

use crossbeam_channel::Sender;
use log::{info, warn};

use super::piece_buffer::PieceBuffer;
use super::piece_picker::PeerKey;
use super::storage::write_refusal;
use super::torrent::{PeerShared, Torrent};

pub struct Job {
    pub torrent: Arc<Torrent>,
    pub key: PeerKey,
    pub index: u32,
    pub buf: PieceBuffer,
    pub shared: Arc<PeerShared>,
    /// Where the buffer goes back to, for reuse by the same connection.
    pub back: Sender<PieceBuffer>,
}

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
    if job.torrent.piece_failed(job.key, job.index) {
        job.shared.disconnect();
    }
    let _ = job.back.try_send(job.buf);
    None
}

fn write(job: Job) {
    let Job {
        torrent,
        key,
        index,
        buf,
        back,
        ..
    } = job;
    let at = index as u64 * torrent.meta.piece_length;
    if let Err(e) = torrent.storage.write_at(at, &buf) {
        // Asking a peer for the piece again would only fetch bytes the disk
        // refuses once more: the download pauses until someone makes room.
        let reason = format!(
            "cannot write piece {index} of {} to {}: {e}: {}",
            torrent.meta.name,
            torrent.storage.location.display(),
            write_refusal(&e)
        );
        if torrent.disk_refused(key, index, reason) {
            offer_again(torrent, key, index, buf);
            return;
        }
    } else {
        torrent.piece_verified(key, index);
    }
    let _ = back.try_send(buf);
}

/// How often the piece that paused a download is offered to the disk again.
pub const RETRY: Duration = Duration::from_secs(5);

/// Keeps the piece that paused the download and offers it to the disk every
/// RETRY: the write itself is the test that there is room again (free space
/// says nothing of a quota, a size limit or a read-only mount), and it costs
/// no traffic. Once it is written the download goes on by itself. It stops
/// when a person pauses or resumes the torrent instead: their call.
fn offer_again(torrent: Arc<Torrent>, key: PeerKey, index: u32, buf: PieceBuffer) {
    let at = index as u64 * torrent.meta.piece_length;
    let spawned = std::thread::Builder::new()
        .name("disk retry".into())
        .spawn(move || {
            loop {
                std::thread::sleep(RETRY);
                if torrent.lock().pause_reason.is_none() {
                    return;
                }
                if torrent.storage.write_at(at, &buf).is_ok() {
                    break;
                }
            }
            torrent.piece_verified(key, index);
            let mut st = torrent.lock();
            if st.pause_reason.take().is_some() {
                st.paused = false;
                info!(
                    "the disk takes {} again: downloading resumes",
                    torrent.meta.name
                );
            }
        });
    if spawned.is_err() {
        warn!("cannot start a thread to retry the disk; `resume` retries by hand");
    }
}
