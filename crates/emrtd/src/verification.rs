//! The outcome of a document check (Passive, Active or Chip
//! Authentication): a verdict a report can show and the reason behind it.

use serde::Serialize;

/// What a check concluded.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The check ran and passed.
    Valid,
    /// The check ran and failed: the document or chip is not genuine.
    Invalid,
    /// The document does not offer this check.
    NotSupported,
    /// Signatures verify but no trusted CSCA vouches for them.
    Untrusted,
}

impl Verdict {
    /// `valid`, `invalid`, `not_supported` or `untrusted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::NotSupported => "not_supported",
            Self::Untrusted => "untrusted",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict with its reason and, when the check ran, the algorithm used.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub verdict: Verdict,
    /// Why, in one sentence for support staff (never personal data).
    pub reason: String,
    /// E.g. `RSA-2048 ISO/IEC 9796-2 SHA-256` or `ECDH brainpoolP256r1 AES-128`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub algorithm: Option<String>,
    /// What the check passed over without letting it decide, e.g. a CRL
    /// whose signature does not verify.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Verification {
    pub fn new(verdict: Verdict, reason: impl Into<String>) -> Self {
        Self {
            verdict,
            reason: reason.into(),
            algorithm: None,
            warnings: Vec::new(),
        }
    }

    pub fn valid(reason: impl Into<String>) -> Self {
        Self::new(Verdict::Valid, reason)
    }

    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::new(Verdict::Invalid, reason)
    }

    pub fn not_supported(reason: impl Into<String>) -> Self {
        Self::new(Verdict::NotSupported, reason)
    }

    pub fn with_algorithm(mut self, algorithm: impl Into<String>) -> Self {
        self.algorithm = Some(algorithm.into());
        self
    }

    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings.extend(warnings);
        self
    }
}
