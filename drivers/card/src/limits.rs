//! What a reader can carry: extended-length APDUs or short ones only, and
//! the largest chunk a read got through it.
//!
//! Many readers (Omnikey, ACR1281 among them) refuse APDUs over 255 bytes,
//! and some chips break on a large Le. The reading code steps down when a
//! read is refused; [`ReaderLimits`] keeps what it learned per reader for
//! the rest of the process, so the next document on the same reader starts
//! at a size that works. [`ShortApdusOnly`] puts such a reader in front of
//! a virtual card, for tests and demonstrations.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use crate::VirtualCard;
use crate::apdu::{CommandApdu, StatusWord};

/// The chunk size that worked on one reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LearnedLimit {
    /// Whether extended-length APDUs passed.
    pub extended_length: bool,
    /// The largest data chunk (Le of READ BINARY) that passed.
    pub max_le: usize,
}

/// Chunk sizes learned per reader name. One per process: see
/// [`ReaderLimits::session`].
#[derive(Debug, Default)]
pub struct ReaderLimits {
    learned: Mutex<HashMap<String, LearnedLimit>>,
}

impl ReaderLimits {
    pub fn new() -> Self {
        Self::default()
    }

    /// The limits of this process's session, shared by every reading.
    pub fn session() -> &'static Self {
        static SESSION: OnceLock<ReaderLimits> = OnceLock::new();
        SESSION.get_or_init(Self::new)
    }

    /// What an earlier read learned about `reader`, if anything.
    pub fn get(&self, reader: &str) -> Option<LearnedLimit> {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(reader)
            .copied()
    }

    /// Keeps `limit` for `reader`. Limits only shrink: a read that asked
    /// for less proves nothing about more.
    pub fn remember(&self, reader: &str, limit: LearnedLimit) {
        let mut learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        let entry = learned.entry(reader.to_owned()).or_insert(limit);
        if limit.max_le < entry.max_le {
            *entry = limit;
        }
    }

    /// Forgets `reader` (it was unplugged: another may come under its name).
    pub fn forget(&self, reader: &str) {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(reader);
    }
}

/// A reader that takes short APDUs only, in front of a virtual card: it
/// answers every extended-length command with `6700` itself, in the clear,
/// without passing it on, as such readers' firmware does.
#[derive(Debug)]
pub struct ShortApdusOnly<C>(pub C);

impl<C: VirtualCard> VirtualCard for ShortApdusOnly<C> {
    fn atr(&self) -> Vec<u8> {
        self.0.atr()
    }

    fn reset(&mut self) {
        self.0.reset();
    }

    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        match CommandApdu::parse(command) {
            Ok(apdu) if apdu.is_extended() => StatusWord::WRONG_LENGTH.to_bytes().to_vec(),
            _ => self.0.process(command),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_kept_per_reader_and_only_shrink() {
        let limits = ReaderLimits::new();
        assert_eq!(limits.get("A"), None);
        let short = LearnedLimit {
            extended_length: false,
            max_le: 223,
        };
        limits.remember("A", short);
        limits.remember(
            "A",
            LearnedLimit {
                extended_length: true,
                max_le: 65_024,
            },
        );
        assert_eq!(limits.get("A"), Some(short));
        let smaller = LearnedLimit {
            extended_length: false,
            max_le: 128,
        };
        limits.remember("A", smaller);
        assert_eq!(limits.get("A"), Some(smaller));
        assert_eq!(limits.get("B"), None);
        limits.forget("A");
        assert_eq!(limits.get("A"), None);
    }

    struct Ok9000;
    impl VirtualCard for Ok9000 {
        fn atr(&self) -> Vec<u8> {
            vec![0x3B, 0x00]
        }
        fn reset(&mut self) {}
        fn process(&mut self, _command: &[u8]) -> Vec<u8> {
            vec![0x90, 0x00]
        }
    }

    #[test]
    fn a_short_apdu_reader_refuses_extended_length_itself() {
        let mut reader = ShortApdusOnly(Ok9000);
        let short = CommandApdu::new(0x0C, 0xB0, 0, 0).with_le(256);
        let extended = CommandApdu::new(0x0C, 0xB0, 0, 0).with_le(1000);
        let long_data = CommandApdu::new(0x0C, 0xD6, 0, 0).with_data(vec![0; 300]);
        assert_eq!(reader.process(&short.to_bytes().unwrap()), [0x90, 0x00]);
        assert_eq!(reader.process(&extended.to_bytes().unwrap()), [0x67, 0x00]);
        assert_eq!(reader.process(&long_data.to_bytes().unwrap()), [0x67, 0x00]);
        // malformed bytes are the card's to answer
        assert_eq!(reader.process(&[0x00]), [0x90, 0x00]);
    }
}
