//! The platform's own checks of an opened packet: it redoes what it can
//! from the evidence (chip files, live frame) instead of believing the
//! station's verdicts, and decides whether to accept the packet.
//!
//! Runs on a blocking thread: Passive Authentication and the face models
//! are CPU work. Nothing here logs or returns biometric or personal data;
//! reasons name checks and numbers only.

use std::collections::BTreeMap;
use std::time::SystemTime;

use biometrics::face::HeadTurnConfig;
use biometrics::{FaceAnalyzer, FaceError, Frame};
use emrtd::LdsFile;
use emrtd::passive::TrustStore;
use emrtd::portrait::{ImageFormat, Portrait};
use enrollment::packet::{PacketError, PacketHeader, PacketPayload};
use uplink::wire::{
    CheckResult, FaceMatchResult, PacketDisposition, Reverification, StationClaims,
};

/// The outcome: the verdicts and whether they are acceptable.
#[derive(Debug, Clone)]
pub struct Decision {
    pub status: PacketDisposition,
    /// `code: sentence` when rejected.
    pub reason: Option<String>,
    /// `None` when the packet could not be opened.
    pub reverification: Option<Reverification>,
}

/// Re-checks `payload` (already opened and structurally valid).
/// `face` is `None` when the hub has no usable face models.
pub fn reverify(
    header: &PacketHeader,
    payload: &PacketPayload,
    trust: Option<&TrustStore>,
    face: Option<&FaceAnalyzer>,
    now: SystemTime,
) -> Decision {
    let reverification = Reverification {
        passive: passive(payload, trust, now),
        face_match: face_match(payload, face),
        signoffs: signoffs(header, payload),
        sealed_at: sealed_at(header, now),
        head_turn: head_turn(payload),
        station_claims: claims(payload),
    };
    let reason = rejection(&reverification);
    Decision {
        status: if reason.is_some() {
            PacketDisposition::Rejected
        } else {
            PacketDisposition::Accepted
        },
        reason,
        reverification: Some(reverification),
    }
}

/// A packet that is authentic (its signature verified) but does not open
/// into a valid payload: rejected, with why.
pub fn unopenable(error: &PacketError) -> Decision {
    let code = match error {
        PacketError::Decrypt => "undecryptable",
        PacketError::MalformedPayload => "malformed_payload",
        PacketError::StationMismatch => "station_mismatch",
        PacketError::Payload(_) => "payload_rules",
        _ => "unopenable",
    };
    Decision {
        status: PacketDisposition::Rejected,
        reason: Some(format!("{code}: {error}")),
        reverification: None,
    }
}

/// The platform's rules: genuine document, the live face is the
/// portrait's, the sign-offs in order, a reported head turn that holds,
/// and a sealing time not far ahead of the hub's clock. A check the hub
/// could not run (no trust store, no models) does not reject: it is
/// recorded as such.
fn rejection(r: &Reverification) -> Option<String> {
    if r.passive.verdict == "invalid" {
        return Some(refusal(
            "passive_authentication_invalid",
            &r.passive,
            "Passive Authentication failed",
        ));
    }
    match r.face_match.verdict.as_str() {
        "no_match" => {
            return Some(format!(
                "face_no_match: the live face does not match the chip portrait (score {:.3} below {:.3})",
                r.face_match.score.unwrap_or(f32::NAN),
                r.face_match.threshold.unwrap_or(f32::NAN)
            ));
        }
        "no_face" => {
            return Some(format!(
                "face_not_found: {}",
                r.face_match
                    .reason
                    .as_deref()
                    .unwrap_or("no single face in the live frame")
            ));
        }
        _ => {}
    }
    if r.signoffs.verdict != "valid" {
        return Some(refusal(
            "signoff_order",
            &r.signoffs,
            "the sign-offs are out of order",
        ));
    }
    if r.head_turn.verdict == "invalid" {
        return Some(refusal(
            "head_turn_invalid",
            &r.head_turn,
            "the head turn does not hold",
        ));
    }
    if r.sealed_at.verdict != "valid" {
        return Some(refusal(
            "sealed_in_future",
            &r.sealed_at,
            "the packet is dated in the future",
        ));
    }
    None
}

/// `code: why`, with the check's own reason or else `otherwise`.
fn refusal(code: &str, check: &CheckResult, otherwise: &str) -> String {
    format!("{code}: {}", check.reason.as_deref().unwrap_or(otherwise))
}

/// A check that holds, with nothing to say.
fn valid() -> CheckResult {
    CheckResult {
        verdict: "valid".into(),
        reason: None,
    }
}

fn check(verdict: &str, reason: impl Into<String>) -> CheckResult {
    CheckResult {
        verdict: verdict.to_owned(),
        reason: Some(reason.into()),
    }
}

/// Passive Authentication of every chip file the packet carries. Without
/// a trust store the hashes and the Document Signer's signature are still
/// checked; the verdict is then at best `untrusted`.
fn passive(payload: &PacketPayload, trust: Option<&TrustStore>, now: SystemTime) -> CheckResult {
    let chip = &payload.chip;
    let mut files = BTreeMap::new();
    files.insert(LdsFile::Dg(1), chip.dg1.clone());
    files.insert(LdsFile::Dg(2), chip.dg2.clone());
    for (n, file) in [(11, &chip.dg11), (14, &chip.dg14), (15, &chip.dg15)] {
        if let Some(bytes) = file {
            files.insert(LdsFile::Dg(n), bytes.clone());
        }
    }
    files.insert(LdsFile::Sod, chip.sod.clone());
    let empty = TrustStore::new();
    // The hub's own clock: the station's times are claims.
    let result = emrtd::passive::verify(&files, trust.unwrap_or(&empty), now);
    let mut reason = result.reason;
    if trust.is_none() && result.verdict == emrtd::Verdict::Untrusted {
        reason = format!("the hub has no trust store: {reason}");
    }
    check(result.verdict.as_str(), reason)
}

/// The live frame against the DG2 portrait with the hub's own models.
fn face_match(payload: &PacketPayload, face: Option<&FaceAnalyzer>) -> FaceMatchResult {
    let not_checked = |reason: String| FaceMatchResult {
        verdict: "not_checked".into(),
        score: None,
        threshold: None,
        reason: Some(reason),
    };
    let Some(analyzer) = face else {
        return not_checked("the hub has no face models".into());
    };
    let portrait = match Portrait::parse_dg2(&payload.chip.dg2) {
        Ok(p) => p,
        Err(e) => return not_checked(format!("the chip portrait is unusable: {e}")),
    };
    if portrait.format != ImageFormat::Jpeg {
        return not_checked(format!(
            "{} portraits cannot be decoded here",
            portrait.format.name()
        ));
    }
    let reference = match Frame::decode(&portrait.image) {
        Ok(f) => f,
        Err(e) => return not_checked(format!("the chip portrait does not decode: {e}")),
    };
    let live = match Frame::decode(&payload.face.best_frame_jpeg) {
        Ok(f) => f,
        Err(_) => {
            return FaceMatchResult {
                verdict: "no_face".into(),
                score: None,
                threshold: None,
                reason: Some("the live frame does not decode".into()),
            };
        }
    };
    match analyzer.check(&live, Some(&reference)) {
        Ok(result) => match result.matching {
            Some(m) => FaceMatchResult {
                verdict: if m.matched { "match" } else { "no_match" }.into(),
                score: Some(m.score),
                threshold: Some(m.threshold),
                reason: None,
            },
            None => FaceMatchResult {
                verdict: "no_face".into(),
                score: None,
                threshold: None,
                reason: Some(format!(
                    "the live frame shows {} faces of comparable size, not one",
                    result.analysis.quality.face_count
                )),
            },
        },
        Err(e @ (FaceError::NoFace | FaceError::MultipleFaces(_))) => {
            not_checked(format!("the chip portrait: {e}"))
        }
        Err(e) => not_checked(format!("face analysis failed: {e}")),
    }
}

/// Clerk before supervisor, both no later than the sealing.
fn signoffs(header: &PacketHeader, payload: &PacketPayload) -> CheckResult {
    let (clerk, supervisor) = (payload.clerk.at_unix_ms, payload.supervisor.at_unix_ms);
    if clerk > supervisor {
        return check("invalid", "the supervisor approved before the clerk signed");
    }
    if supervisor > header.created_at_unix_ms {
        return check("invalid", "the approval is later than the sealing");
    }
    if payload.clerk.user_id == payload.supervisor.user_id {
        return check("invalid", "the clerk approved their own enrollment");
    }
    valid()
}

/// The head turn the station reports (format v2), judged by the
/// platform's own minimum turn. The frames of the turn are not in the
/// packet, so the turn itself cannot be watched again: this catches a
/// station whose threshold was lowered while it still reports the turn,
/// or a record that does not hold together.
fn head_turn(payload: &PacketPayload) -> CheckResult {
    let Some(turn) = &payload.face.liveness.head_turn else {
        return check(
            "not_asked",
            "no head turn reported (format v1, or images that could not be asked)",
        );
    };
    let least = HeadTurnConfig::default().turned_min_deg;
    if !matches!(turn.direction.as_str(), "left" | "right") {
        return check("invalid", format!("no such direction {:?}", turn.direction));
    }
    if turn.state != "passed" {
        return check("invalid", format!("the turn ended {:?}", turn.state));
    }
    if turn.peak_yaw_deg < least {
        return check(
            "invalid",
            format!(
                "the head turned {:.1}°, less than the platform's {least:.0}°",
                turn.peak_yaw_deg
            ),
        );
    }
    valid()
}

/// How far ahead of the hub's clock a station's clock may run before its
/// packets are refused: drift is expected on a counter offline for days,
/// a packet from next week is not.
const MAX_CLOCK_AHEAD_MS: u64 = 24 * 60 * 60 * 1000;

fn sealed_at(header: &PacketHeader, now: SystemTime) -> CheckResult {
    let now_ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if header.created_at_unix_ms > now_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
        return check(
            "invalid",
            format!(
                "the packet claims to be sealed {} hours after the hub's time",
                (header.created_at_unix_ms - now_ms) / 3_600_000
            ),
        );
    }
    valid()
}

fn claims(payload: &PacketPayload) -> StationClaims {
    let v = &payload.chip_verification;
    StationClaims {
        passive: v.passive.verdict.clone(),
        active: v.active.verdict.clone(),
        chip: v.chip.verdict.clone(),
        liveness: payload.face.liveness.verdict.clone(),
        face_match: payload.face.face_match.decision.clone(),
        face_match_score: payload.face.face_match.score,
    }
}
