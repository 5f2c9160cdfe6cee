//! One piece's bytes in memory, placed so the kernel can write them to disk
//! directly (see `Storage::write_at`).
//!
//! Direct I/O wants the memory aligned to the device's block size. Rather than
//! an allocator of our own, the buffer over-allocates by one alignment and
//! starts at the first aligned byte, which keeps it all safe Rust.

use std::ops::{Deref, DerefMut};

/// Alignment of the data: a page, which covers any disk's logical block.
pub const ALIGN: usize = 4096;

#[derive(Default)]
pub struct PieceBuffer {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl PieceBuffer {
    /// Sets the length to `len`. Reuse keeps the old bytes: every byte of a
    /// piece is overwritten by a block before it is hashed, so zeroing again
    /// would only cost time. Memory is taken only when the buffer must grow.
    pub fn resize(&mut self, len: usize) {
        if self.raw.len() - self.start < len {
            self.raw = vec![0; len + ALIGN];
            self.start = self.raw.as_ptr().align_offset(ALIGN);
        }
        self.len = len;
    }
}

impl Deref for PieceBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }
}

impl DerefMut for PieceBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_aligned_and_sized() {
        let mut b = PieceBuffer::default();
        assert!(b.is_empty());
        b.resize(16384 + 5);
        assert_eq!(b.len(), 16389);
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        b[16388] = 7;
        b.resize(100);
        assert_eq!(b.len(), 100);
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn reuse_keeps_the_allocation() {
        let mut b = PieceBuffer::default();
        b.resize(1 << 20);
        let p = b.as_ptr();
        b.resize(1 << 19);
        b.resize(1 << 20);
        assert_eq!(b.as_ptr(), p);
    }
}
