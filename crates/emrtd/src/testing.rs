//! Test doubles: a byte source that plays back fixed "random" values, and a
//! channel that replays a transcript.

use card::{CardChannel, TransmitError};
use rand_core::{CryptoRng, RngCore};
use std::collections::VecDeque;

/// Returns the scripted bytes in order, then zeros.
pub(crate) struct ScriptedRng(pub VecDeque<u8>);

impl ScriptedRng {
    pub fn new(parts: &[&[u8]]) -> Self {
        Self(parts.iter().flat_map(|p| p.iter().copied()).collect())
    }
}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.0.pop_front().unwrap_or(0);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ScriptedRng {}

/// Replays responses and records commands.
pub(crate) struct Transcript {
    pub sent: Vec<Vec<u8>>,
    pub replies: VecDeque<Vec<u8>>,
}

impl Transcript {
    pub fn new(replies: Vec<Vec<u8>>) -> Self {
        Self {
            sent: Vec::new(),
            replies: replies.into(),
        }
    }
}

impl CardChannel for Transcript {
    fn transmit_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, TransmitError> {
        self.sent.push(command.to_vec());
        self.replies.pop_front().ok_or(TransmitError::CardRemoved)
    }
}
