//! The enrollment as a domain object: what has been captured, who approved
//! it, and where it stands on its way to the platform.
//!
//! The workflow is an explicit state machine ([`EnrollmentState`]): every
//! move goes through [`EnrollmentState::advance`], which refuses the illegal
//! ones, so no caller can skip the supervisor or seal twice. The approved
//! enrollment leaves the station as a [`packet::SealedPacket`]. This crate
//! holds no I/O: devices, storage and upload happen elsewhere.
#![forbid(unsafe_code)]

pub mod packet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where one enrollment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentState {
    /// Started; the chip has not been read yet.
    Started,
    DocumentRead,
    FaceCaptured,
    VoiceCaptured,
    ReadyForReview,
    Approved,
    Rejected,
    /// Sealed into a packet and waiting in the outbox.
    Queued,
    Uploading,
    Acknowledged,
    RejectedByPlatform,
    /// Payload deleted after acknowledgement and retention.
    Purged,
}

/// What happened to an enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    ReadDocument,
    CaptureFace,
    CaptureVoice,
    SubmitForReview,
    Approve,
    Reject,
    Seal,
    StartUpload,
    UploadFailed,
    Acknowledge,
    PlatformRejects,
    Resubmit,
    Purge,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("an enrollment that is {from:?} cannot {event:?}")]
pub struct IllegalTransition {
    pub from: EnrollmentState,
    pub event: Event,
}

impl EnrollmentState {
    /// The state after `event`, or why it may not happen now.
    pub fn advance(self, event: Event) -> Result<Self, IllegalTransition> {
        use EnrollmentState as S;
        use Event as E;
        let next = match (self, event) {
            (S::Started, E::ReadDocument) => S::DocumentRead,
            // Re-reading or re-capturing replaces the earlier result.
            (S::DocumentRead, E::ReadDocument) => S::DocumentRead,
            (S::DocumentRead | S::FaceCaptured, E::CaptureFace) => S::FaceCaptured,
            (S::FaceCaptured | S::VoiceCaptured, E::CaptureVoice) => S::VoiceCaptured,
            (S::VoiceCaptured, E::SubmitForReview) => S::ReadyForReview,
            (S::ReadyForReview, E::Approve) => S::Approved,
            (S::ReadyForReview, E::Reject) => S::Rejected,
            (S::Approved, E::Seal) => S::Queued,
            (S::Queued, E::StartUpload) => S::Uploading,
            (S::Uploading, E::UploadFailed) => S::Queued,
            (S::Uploading | S::Queued, E::Acknowledge) => S::Acknowledged,
            (S::Uploading, E::PlatformRejects) => S::RejectedByPlatform,
            (S::RejectedByPlatform, E::Resubmit) => S::Queued,
            (S::Acknowledged | S::Rejected, E::Purge) => S::Purged,
            (from, event) => return Err(IllegalTransition { from, event }),
        };
        Ok(next)
    }

    /// Whether nothing more will ever happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Purged)
    }
}

#[cfg(test)]
mod tests {
    use super::EnrollmentState as S;
    use super::Event as E;
    use super::*;

    #[test]
    fn the_happy_path_reaches_purged() {
        let path = [
            (E::ReadDocument, S::DocumentRead),
            (E::CaptureFace, S::FaceCaptured),
            (E::CaptureVoice, S::VoiceCaptured),
            (E::SubmitForReview, S::ReadyForReview),
            (E::Approve, S::Approved),
            (E::Seal, S::Queued),
            (E::StartUpload, S::Uploading),
            (E::UploadFailed, S::Queued),
            (E::StartUpload, S::Uploading),
            (E::Acknowledge, S::Acknowledged),
            (E::Purge, S::Purged),
        ];
        let mut state = S::Started;
        for (event, expected) in path {
            state = state.advance(event).unwrap();
            assert_eq!(state, expected);
        }
        assert!(state.is_final());
    }

    #[test]
    fn nothing_skips_the_supervisor() {
        for s in [
            S::Started,
            S::DocumentRead,
            S::FaceCaptured,
            S::VoiceCaptured,
        ] {
            assert!(s.advance(E::Approve).is_err());
            assert!(s.advance(E::Seal).is_err());
        }
        assert_eq!(
            S::ReadyForReview.advance(E::Seal),
            Err(IllegalTransition {
                from: S::ReadyForReview,
                event: E::Seal
            })
        );
        assert!(S::Rejected.advance(E::Seal).is_err());
        assert!(S::Queued.advance(E::Seal).is_err());
        assert!(S::Purged.advance(E::Resubmit).is_err());
    }

    #[test]
    fn platform_rejection_can_be_resubmitted() {
        let s = S::Uploading.advance(E::PlatformRejects).unwrap();
        assert_eq!(s, S::RejectedByPlatform);
        assert_eq!(s.advance(E::Resubmit).unwrap(), S::Queued);
    }

    #[test]
    fn states_serialise_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&S::RejectedByPlatform).unwrap(),
            "\"rejected_by_platform\""
        );
    }
}
