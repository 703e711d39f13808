//! BER-TLV as ISO 7816-4 and ICAO 9303 use it: tags of up to three bytes,
//! definite lengths of up to four bytes.
//!
//! Parsing borrows from the input and never allocates; nesting is walked only
//! to a fixed depth so hostile input cannot exhaust the stack.

use thiserror::Error;

/// Deepest nesting [`validate`] accepts; LDS files nest far less than this.
pub const MAX_DEPTH: usize = 16;

/// Why bytes are not well-formed BER-TLV.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlvError {
    #[error("TLV ends inside its tag")]
    TruncatedTag,
    #[error("tag longer than three bytes")]
    TagTooLong,
    #[error("TLV ends inside its length")]
    TruncatedLength,
    #[error("length field of {0} bytes is not supported")]
    UnsupportedLength(u8),
    #[error("indefinite length is not allowed in DER or SM data objects")]
    IndefiniteLength,
    #[error("value of {declared} bytes declared but only {available} present")]
    TruncatedValue { declared: usize, available: usize },
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("expected tag {expected:X}, found {found:X}")]
    UnexpectedTag { expected: u32, found: u32 },
    #[error("required data object {0:X} is missing")]
    Missing(u32),
}

/// One data object: its tag (as the big-endian tag bytes) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u32,
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Whether the tag marks a constructed object (bit 6 of the first byte).
    pub fn is_constructed(&self) -> bool {
        let first = if self.tag > 0xFFFF {
            self.tag >> 16
        } else if self.tag > 0xFF {
            self.tag >> 8
        } else {
            self.tag
        };
        first & 0x20 != 0
    }

    /// The data objects inside this one's value.
    pub fn children(&self) -> Objects<'a> {
        Objects::new(self.value)
    }
}

/// Where a TLV's value sits, as read from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub tag: u32,
    /// Bytes of tag plus length fields.
    pub header_len: usize,
    pub value_len: usize,
}

impl Header {
    /// Length of the whole object, header included (saturating: the value
    /// length came from outside).
    pub fn total_len(&self) -> usize {
        self.header_len.saturating_add(self.value_len)
    }
}

/// Reads a tag and a length without requiring the value to be present. This
/// is how a reader learns a file's size from its first few bytes.
pub fn parse_header(bytes: &[u8]) -> Result<Header, TlvError> {
    let mut pos = 0usize;
    let first = *bytes.first().ok_or(TlvError::TruncatedTag)?;
    pos += 1;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        // Subsequent tag bytes follow while bit 8 is set.
        loop {
            let b = *bytes.get(pos).ok_or(TlvError::TruncatedTag)?;
            pos += 1;
            if pos > 3 {
                return Err(TlvError::TagTooLong);
            }
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let len_byte = *bytes.get(pos).ok_or(TlvError::TruncatedLength)?;
    pos += 1;
    let value_len = match len_byte {
        0x80 => return Err(TlvError::IndefiniteLength),
        n if n < 0x80 => usize::from(n),
        n => {
            let count = n & 0x7F;
            if count > 4 {
                return Err(TlvError::UnsupportedLength(count));
            }
            let end = pos + usize::from(count);
            let field = bytes.get(pos..end).ok_or(TlvError::TruncatedLength)?;
            pos = end;
            field
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        }
    };
    Ok(Header {
        tag,
        header_len: pos,
        value_len,
    })
}

/// Parses the first data object and returns it with the bytes after it.
pub fn parse(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlvError> {
    let header = parse_header(bytes)?;
    let rest = bytes.get(header.header_len..).unwrap_or_default();
    if rest.len() < header.value_len {
        return Err(TlvError::TruncatedValue {
            declared: header.value_len,
            available: rest.len(),
        });
    }
    let (value, rest) = rest.split_at(header.value_len);
    Ok((
        Tlv {
            tag: header.tag,
            value,
        },
        rest,
    ))
}

/// Parses exactly one data object with the expected tag, ignoring trailing
/// bytes (files are often padded).
pub fn expect(bytes: &[u8], tag: u32) -> Result<Tlv<'_>, TlvError> {
    let (tlv, _) = parse(bytes)?;
    if tlv.tag != tag {
        return Err(TlvError::UnexpectedTag {
            expected: tag,
            found: tlv.tag,
        });
    }
    Ok(tlv)
}

/// Checks that `bytes` is a sequence of well-formed objects, descending into
/// constructed ones up to [`MAX_DEPTH`].
pub fn validate(bytes: &[u8]) -> Result<(), TlvError> {
    validate_at(bytes, 0)
}

fn validate_at(bytes: &[u8], depth: usize) -> Result<(), TlvError> {
    if depth >= MAX_DEPTH {
        return Err(TlvError::TooDeep);
    }
    for tlv in Objects::new(bytes) {
        let tlv = tlv?;
        if tlv.is_constructed() {
            validate_at(tlv.value, depth + 1)?;
        }
    }
    Ok(())
}

/// Iterator over consecutive data objects; stops after the first error.
#[derive(Debug, Clone)]
pub struct Objects<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Objects<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            failed: false,
        }
    }

    /// The first object with `tag` at this level, if any.
    pub fn find(self, tag: u32) -> Result<Option<Tlv<'a>>, TlvError> {
        for tlv in self {
            let tlv = tlv?;
            if tlv.tag == tag {
                return Ok(Some(tlv));
            }
        }
        Ok(None)
    }
}

impl<'a> Iterator for Objects<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match parse(self.rest) {
            Ok((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Appends the tag bytes (without leading zero bytes).
fn push_tag(out: &mut Vec<u8>, tag: u32) {
    let bytes = tag.to_be_bytes();
    let skip = bytes.iter().take(3).take_while(|b| **b == 0).count();
    out.extend_from_slice(bytes.get(skip..).unwrap_or(&bytes));
}

/// Appends a DER definite length.
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Encodes one data object.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 8);
    push_tag(&mut out, tag);
    push_length(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_long_forms() {
        let (tlv, rest) = parse(&[0x87, 0x03, 1, 2, 3, 0xFF]).unwrap();
        assert_eq!(
            (tlv.tag, tlv.value, rest),
            (0x87, &[1u8, 2, 3][..], &[0xFFu8][..])
        );
        let mut long = vec![0x5F, 0x1F, 0x81, 0x80];
        long.extend(vec![0xAA; 0x80]);
        let (tlv, _) = parse(&long).unwrap();
        assert_eq!(tlv.tag, 0x5F1F);
        assert_eq!(tlv.value.len(), 0x80);
        let h = parse_header(&[0x77, 0x82, 0x90, 0x00]).unwrap();
        assert_eq!((h.tag, h.header_len, h.value_len), (0x77, 4, 0x9000));
        assert_eq!(
            parse_header(&[0x7F, 0x61, 0x82, 0x01]),
            Err(TlvError::TruncatedLength)
        );
    }

    #[test]
    fn encodes_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; len];
            let enc = encode(0x7F49, &value);
            let (tlv, rest) = parse(&enc).unwrap();
            assert_eq!(tlv.tag, 0x7F49);
            assert_eq!(tlv.value, &value[..]);
            assert!(rest.is_empty());
        }
        assert_eq!(encode(0x87, &[1]), [0x87, 1, 1]);
        assert_eq!(encode(0, &[]), [0, 0]);
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(parse(&[]), Err(TlvError::TruncatedTag));
        assert_eq!(parse(&[0x1F]), Err(TlvError::TruncatedTag));
        assert_eq!(
            parse(&[0x1F, 0x81, 0x81, 0x01, 0]),
            Err(TlvError::TagTooLong)
        );
        assert_eq!(parse(&[0x30, 0x80]), Err(TlvError::IndefiniteLength));
        assert_eq!(
            parse(&[0x30, 0x85, 1, 1, 1, 1, 1]),
            Err(TlvError::UnsupportedLength(5))
        );
        assert_eq!(
            parse(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(TlvError::TruncatedValue {
                declared: 0xFFFF_FFFF,
                available: 0
            })
        );
        assert_eq!(
            expect(&[0x60, 0], 0x61),
            Err(TlvError::UnexpectedTag {
                expected: 0x61,
                found: 0x60
            })
        );
    }

    #[test]
    fn limits_depth() {
        let mut nested = vec![0x04, 0x00];
        for _ in 0..MAX_DEPTH + 1 {
            nested = encode(0x30, &nested);
        }
        assert_eq!(validate(&nested), Err(TlvError::TooDeep));
        let mut shallow = vec![0x04, 0x00];
        for _ in 0..4 {
            shallow = encode(0x30, &shallow);
        }
        assert_eq!(validate(&shallow), Ok(()));
    }

    #[test]
    fn finds_children() {
        let inner = [encode(0x80, &[1]), encode(0x83, &[2])].concat();
        let outer = encode(0x7C, &inner);
        let tlv = expect(&outer, 0x7C).unwrap();
        assert_eq!(tlv.children().find(0x83).unwrap().unwrap().value, &[2]);
        assert_eq!(tlv.children().find(0x84).unwrap(), None);
    }
}
