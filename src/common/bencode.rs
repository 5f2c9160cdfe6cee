//! Bencode (BEP 3): a strict decoder that borrows from its input and remembers
//! the raw bytes of every dictionary, plus a small encoder.
//!
//! The raw span matters: a torrent's info-hash is the SHA-1 of the `info`
//! dictionary exactly as it stands in the file, not of a re-encoding of it.

use thiserror::Error;

/// Nesting deeper than this is refused, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BencodeError {
    #[error("unexpected end of bencoded data at byte {0}")]
    Eof(usize),
    #[error("invalid bencode at byte {0}: {1}")]
    Invalid(usize, &'static str),
    #[error("bencoded data nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("trailing bytes after bencoded value at byte {0}")]
    Trailing(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    Dict(Dict<'a>),
}

/// A dictionary in file order, with the exact bytes it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dict<'a> {
    pub entries: Vec<(&'a [u8], Value<'a>)>,
    pub raw: &'a [u8],
}

impl<'a> Dict<'a> {
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }
}

impl<'a> Value<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
}

/// Decodes exactly one value that must span the whole input.
pub fn decode(input: &[u8]) -> Result<Value<'_>, BencodeError> {
    let mut p = Parser { input, pos: 0 };
    let v = p.value(0)?;
    if p.pos != input.len() {
        return Err(BencodeError::Trailing(p.pos));
    }
    Ok(v)
}

/// Decodes one value from the front of the input and returns how many bytes it used.
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), BencodeError> {
    let mut p = Parser { input, pos: 0 };
    let v = p.value(0)?;
    Ok((v, p.pos))
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(BencodeError::Eof(self.pos))
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, BencodeError> {
        if depth > MAX_DEPTH {
            return Err(BencodeError::TooDeep);
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let n = self.integer(b'e')?;
                Ok(Value::Int(n))
            }
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                let start = self.pos;
                self.pos += 1;
                let mut entries = Vec::new();
                while self.peek()? != b'e' {
                    if !self.peek()?.is_ascii_digit() {
                        return Err(BencodeError::Invalid(
                            self.pos,
                            "dictionary key is not a string",
                        ));
                    }
                    let key = self.bytes()?;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                }
                self.pos += 1;
                Ok(Value::Dict(Dict {
                    entries,
                    raw: &self.input[start..self.pos],
                }))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.bytes()?)),
            _ => Err(BencodeError::Invalid(self.pos, "unexpected byte")),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], BencodeError> {
        let len = self.integer(b':')?;
        if len < 0 {
            return Err(BencodeError::Invalid(self.pos, "negative string length"));
        }
        let len = len as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.input.len())
            .ok_or(BencodeError::Eof(self.input.len()))?;
        let b = &self.input[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// Parses a canonical decimal integer up to `terminator`: no leading zeros, no `-0`.
    fn integer(&mut self, terminator: u8) -> Result<i64, BencodeError> {
        let start = self.pos;
        let rest = &self.input[start..];
        let end = rest
            .iter()
            .position(|&c| c == terminator)
            .ok_or(BencodeError::Eof(self.input.len()))?;
        let digits = &rest[..end];
        let (neg, body) = match digits.split_first() {
            Some((b'-', body)) => (true, body),
            _ => (false, digits),
        };
        let canonical = !body.is_empty()
            && body.iter().all(u8::is_ascii_digit)
            && (body.len() == 1 || body[0] != b'0')
            && !(neg && body == b"0");
        if !canonical {
            return Err(BencodeError::Invalid(start, "malformed integer"));
        }
        let text = std::str::from_utf8(digits).expect("ascii digits");
        let n = text
            .parse::<i64>()
            .map_err(|_| BencodeError::Invalid(start, "integer out of range"))?;
        self.pos = start + end + 1;
        Ok(n)
    }
}

/// Appends bencoded items to a buffer. Dictionary keys must be written in
/// sorted order by the caller, as BEP 3 requires.
pub struct Encoder<'b> {
    out: &'b mut Vec<u8>,
}

impl<'b> Encoder<'b> {
    pub fn new(out: &'b mut Vec<u8>) -> Self {
        Encoder { out }
    }
    pub fn int(&mut self, n: i64) -> &mut Self {
        self.out.push(b'i');
        self.out.extend_from_slice(n.to_string().as_bytes());
        self.out.push(b'e');
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b.len().to_string().as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(b);
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }
    pub fn begin_dict(&mut self) -> &mut Self {
        self.out.push(b'd');
        self
    }
    pub fn begin_list(&mut self) -> &mut Self {
        self.out.push(b'l');
        self
    }
    pub fn end(&mut self) -> &mut Self {
        self.out.push(b'e');
        self
    }
    /// Appends bytes that are already bencoded, such as an info dictionary.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_kind() {
        let v = decode(b"d3:bar4:spam3:fooi42e4:listl1:ai-3eee").unwrap();
        let d = v.as_dict().unwrap();
        assert_eq!(d.get("bar").unwrap().as_bytes(), Some(&b"spam"[..]));
        assert_eq!(d.get("foo").unwrap().as_int(), Some(42));
        let l = d.get("list").unwrap().as_list().unwrap();
        assert_eq!(l[0].as_str(), Some("a"));
        assert_eq!(l[1].as_int(), Some(-3));
    }

    #[test]
    fn dict_keeps_its_raw_span() {
        let input = b"d4:infod1:xi1eee";
        let v = decode(input).unwrap();
        let info = v.as_dict().unwrap().get("info").unwrap().as_dict().unwrap();
        assert_eq!(info.raw, b"d1:xi1ee");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"i",
            b"i01e",
            b"i-0e",
            b"ie",
            b"i12",
            b"5:abc",
            b"d1:a",
            b"di1ei2ee",
            b"x",
            b"l",
            b"-1:a",
            b"99999999999999999999:a",
            b"i99999999999999999999e",
            b"i1ei2e",
        ] {
            assert!(
                decode(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut s = vec![b'l'; 10_000];
        s.extend(vec![b'e'; 10_000]);
        assert_eq!(decode(&s), Err(BencodeError::TooDeep));
    }

    #[test]
    fn encoder_round_trips() {
        let mut out = Vec::new();
        Encoder::new(&mut out)
            .begin_dict()
            .str("a")
            .int(-7)
            .str("b")
            .begin_list()
            .bytes(b"xy")
            .end()
            .end();
        assert_eq!(out, b"d1:ai-7e1:bl2:xyee");
        assert!(decode(&out).is_ok());
    }

    #[test]
    fn prefix_reports_length() {
        let (v, used) = decode_prefix(b"i5eXYZ").unwrap();
        assert_eq!(v.as_int(), Some(5));
        assert_eq!(used, 3);
    }
}
