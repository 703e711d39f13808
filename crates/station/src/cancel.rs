//! Stopping a long step from the counter: the clerk presses Cancel while a
//! chip is read or a voice recorded. The shell only flips a
//! [`Cancellation`]; the step's own loop looks at it between APDUs (through
//! [`Cancellation::channel`]) or between audio chunks (through
//! [`Cancellation::audio`]) and unwinds, dropping the reader or the
//! microphone stream and whatever it had captured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use card::{CardChannel, TransmitError};
use microphone::{AudioError, AudioFormat, AudioSource};

use crate::failure::{Code, Failure};

/// A flag shared between a long step and whoever may stop it. Clones share
/// the flag; a fresh one is not cancelled.
#[derive(Debug, Clone, Default)]
pub struct Cancellation(Arc<AtomicBool>);

impl Cancellation {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the step to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Whether `other` is a clone of this token (not merely in the same
    /// state).
    pub fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The catalogue's failure for a step stopped at the counter.
    pub fn failure(step: &str) -> Failure {
        Failure::new(Code::Cancelled, format!("{step} was cancelled"))
    }

    /// `result`, unless the step was cancelled meanwhile: then the
    /// cancellation, whatever the step made of being cut off.
    pub fn outcome<T>(&self, step: &str, result: Result<T, Failure>) -> Result<T, Failure> {
        if self.is_cancelled() {
            Err(Self::failure(step))
        } else {
            result
        }
    }

    /// `inner`, refusing every APDU once cancelled: the read stops before
    /// its next command reaches the card.
    pub fn channel<'a, C: CardChannel + ?Sized>(
        &self,
        inner: &'a mut C,
    ) -> CancellableChannel<'a, C> {
        CancellableChannel {
            inner,
            cancel: self.clone(),
        }
    }

    /// `inner`, ending once cancelled: a recording stops at its next chunk.
    pub fn audio<'a>(&self, inner: &'a mut dyn AudioSource) -> CancellableAudio<'a> {
        CancellableAudio {
            inner,
            cancel: self.clone(),
        }
    }
}

/// A card channel that stops passing commands once cancelled.
pub struct CancellableChannel<'a, C: ?Sized> {
    inner: &'a mut C,
    cancel: Cancellation,
}

impl<C: CardChannel + ?Sized> CardChannel for CancellableChannel<'_, C> {
    fn transmit_raw(&mut self, command: &[u8]) -> Result<Vec<u8>, TransmitError> {
        if self.cancel.is_cancelled() {
            // Not `Rejected`, which would make the reader step down to
            // smaller reads and carry on. An extended read still steps down
            // on a transport error, but every later command is cancelled
            // too, and the read does not remember the sizes it tried.
            return Err(TransmitError::Transport("cancelled at the counter".into()));
        }
        self.inner.transmit_raw(command)
    }
}

/// An audio source that ends once cancelled.
pub struct CancellableAudio<'a> {
    inner: &'a mut dyn AudioSource,
    cancel: Cancellation,
}

impl<C: ?Sized> std::fmt::Debug for CancellableChannel<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellableChannel")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CancellableAudio<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellableAudio")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl AudioSource for CancellableAudio<'_> {
    fn format(&self) -> AudioFormat {
        self.inner.format()
    }

    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        if self.cancel.is_cancelled() {
            return Ok(None);
        }
        self.inner.next_chunk()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(usize);

    impl CardChannel for Echo {
        fn transmit_raw(&mut self, _command: &[u8]) -> Result<Vec<u8>, TransmitError> {
            self.0 += 1;
            Ok(vec![0x90, 0x00])
        }
    }

    struct Tone;

    impl AudioSource for Tone {
        fn format(&self) -> AudioFormat {
            AudioFormat {
                sample_rate: 16_000,
                source_channels: 1,
            }
        }
        fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
            Ok(Some(vec![0.1; 160]))
        }
    }

    #[test]
    fn a_cancelled_channel_passes_no_more_commands() {
        let cancel = Cancellation::new();
        let mut card = Echo(0);
        let mut channel = cancel.channel(&mut card);
        let get = card::CommandApdu::new(0, 0xB0, 0, 0).with_le(4);
        assert!(channel.transmit(&get).is_ok());
        cancel.clone().cancel();
        assert!(matches!(
            channel.transmit(&get),
            Err(TransmitError::Transport(_))
        ));
        drop(channel);
        assert_eq!(card.0, 1);
    }

    #[test]
    fn a_cancelled_recording_ends_at_the_next_chunk() {
        let cancel = Cancellation::new();
        let mut tone = Tone;
        let mut source = cancel.audio(&mut tone);
        let mut levels = 0;
        let stopper = cancel.clone();
        let rec = microphone::record(&mut source, 6.0, &mut |_| {
            levels += 1;
            if levels == 5 {
                stopper.cancel();
            }
        })
        .unwrap();
        // 6 s would be 120 levels; it stopped within a chunk of the fifth.
        assert_eq!(levels, 5);
        assert!(rec.seconds() < 0.3, "{rec:?}");
        assert!(cancel.outcome("recording", Ok(())).is_err());
    }
}
