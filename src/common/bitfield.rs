//! A fixed-length bit set in the BEP 3 wire layout: bit 0 is the high bit of byte 0.

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: usize,
    count: usize,
}

impl Bitfield {
    pub fn new(len: usize) -> Self {
        Bitfield {
            bytes: vec![0; len.div_ceil(8)],
            len,
            count: 0,
        }
    }

    pub fn full(len: usize) -> Self {
        let mut b = Self::new(len);
        for i in 0..len {
            b.set(i);
        }
        b
    }

    /// Reads a wire bitfield. Spare bits past `len` must be zero (BEP 3).
    pub fn from_bytes(bytes: &[u8], len: usize) -> Option<Self> {
        if bytes.len() != len.div_ceil(8) {
            return None;
        }
        let spare = bytes.len() * 8 - len;
        if spare > 0 && bytes[bytes.len() - 1] & ((1u8 << spare) - 1) != 0 {
            return None;
        }
        let count = bytes.iter().map(|b| b.count_ones() as usize).sum();
        Some(Bitfield {
            bytes: bytes.to_vec(),
            len,
            count,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn count(&self) -> usize {
        self.count
    }
    pub fn is_complete(&self) -> bool {
        self.count == self.len
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.bytes[i / 8] & (0x80 >> (i % 8)) != 0
    }

    /// Sets bit `i`; returns false when it was already set or is out of range.
    pub fn set(&mut self, i: usize) -> bool {
        if i >= self.len || self.get(i) {
            return false;
        }
        self.bytes[i / 8] |= 0x80 >> (i % 8);
        self.count += 1;
        true
    }

    pub fn clear(&mut self, i: usize) {
        if self.get(i) {
            self.bytes[i / 8] &= !(0x80 >> (i % 8));
            self.count -= 1;
        }
    }

    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }

    /// A compact text map: `#` had, `-` missing, one character per group of pieces.
    pub fn map(&self, width: usize, in_flight: &dyn Fn(usize) -> bool) -> String {
        if self.len == 0 {
            return String::new();
        }
        let width = width.min(self.len).max(1);
        (0..width)
            .map(|c| {
                let lo = c * self.len / width;
                let hi = ((c + 1) * self.len / width).max(lo + 1);
                let had = (lo..hi).filter(|&i| self.get(i)).count();
                if had == hi - lo {
                    '#'
                } else if (lo..hi).any(in_flight) {
                    '>'
                } else if had > 0 {
                    '+'
                } else {
                    '-'
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0));
        assert!(!b.set(0));
        assert!(b.set(9));
        assert!(!b.set(10));
        assert_eq!(b.count(), 2);
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        b.clear(0);
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![9]);
    }

    #[test]
    fn wire_form_is_checked() {
        assert!(Bitfield::from_bytes(&[0xff, 0xc0], 10).is_some());
        assert!(
            Bitfield::from_bytes(&[0xff, 0xe0], 10).is_none(),
            "spare bit set"
        );
        assert!(Bitfield::from_bytes(&[0xff], 10).is_none(), "short");
        assert!(Bitfield::full(10).is_complete());
    }

    #[test]
    fn map_shows_state() {
        let mut b = Bitfield::new(4);
        b.set(0);
        assert_eq!(b.map(4, &|i| i == 1), "#>--");
    }
}
