//! Specimen documents: a self-consistent virtual eMRTD made from MRZ data
//! and a portrait — the LDS files, an EF.SOD signed by a Document Signer
//! under a test CSCA, a CSCA master list, and the chip's keys — written to
//! a directory that [`crate::chip::Profile::load_dir`] serves.
//!
//! Only for tests, demos and training: the CSCA is made up on the spot.

use crate::aa::AaKey;
use crate::access::Can;
use crate::ca::CaKey;
use crate::chip::{
    KeySettings, PaceSettings, Profile, ProfileSettings, SETTINGS_FILE, cipher_name,
};
use crate::crypto::CipherAlgorithm;
use crate::ec::Curve;
use crate::keys::{HashAlgorithm, KeyError, PrivateKey};
use crate::lds::{self, LdsFile};
use crate::mrz::{DocumentType, Mrz, MrzError, check_digit};
use crate::pace::{PaceInfo, PaceProtocol};
use crate::portrait::Portrait;
use crate::security_info::{
    ActiveAuthenticationInfo, ChipAuthenticationInfo, ChipAuthenticationPublicKey, SecurityInfos,
};
use crate::tlv;
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::oid::ObjectIdentifier as Oid;
use der::{Any, Decode, Encode};
use rand_core::CryptoRngCore;
use signature::{Keypair, Signer};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SubjectPublicKeyInfoOwned};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile as CertProfile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use zeroize::Zeroizing;

/// id-icao-mrtd-security-ldsSecurityObject.
pub const LDS_SECURITY_OBJECT: Oid = Oid::new_unwrap("2.23.136.1.1.1");
/// id-icao-cscaMasterList.
pub const CSCA_MASTER_LIST: Oid = Oid::new_unwrap("2.23.136.1.1.2");

/// File names beside the LDS files.
pub const CSCA_FILE: &str = "csca.der";
pub const DSC_FILE: &str = "dsc.der";
pub const MASTER_LIST_FILE: &str = "masterlist.ml";
pub const CRL_FILE: &str = "csca.crl";
pub const AA_KEY_FILE: &str = "aa-key.der";
pub const CA_KEY_FILE: &str = "ca-key.der";

/// Why a specimen cannot be made or written.
#[derive(Debug, Error)]
pub enum SpecimenError {
    #[error("MRZ field {field} is invalid: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("the MRZ built is invalid: {0}")]
    Mrz(#[from] MrzError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("building a certificate or signature failed: {0}")]
    Signing(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn signing_error(e: impl std::fmt::Display) -> SpecimenError {
    SpecimenError::Signing(e.to_string())
}

/// The holder and document data printed in the MRZ.
#[derive(Clone, PartialEq, Eq)]
pub struct MrzData {
    /// TD1 (ID card) or TD3 (passport).
    pub document_type: DocumentType,
    /// Three-letter code, e.g. `CHN` or `UTO`.
    pub issuing_state: String,
    pub surname: String,
    pub given_names: String,
    /// Up to nine characters.
    pub document_number: String,
    pub nationality: String,
    /// YYMMDD.
    pub date_of_birth: String,
    /// `M`, `F` or `<`.
    pub sex: char,
    /// YYMMDD.
    pub date_of_expiry: String,
    pub optional_data: String,
}

/// How the chip is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessOptions {
    /// Whether BAC is answered (besides PACE, if any).
    pub bac: bool,
    /// The PACE variant EF.CardAccess offers.
    pub pace: Option<PaceInfo>,
    pub can: Option<Can>,
}

impl Default for AccessOptions {
    fn default() -> Self {
        Self {
            bac: true,
            pace: None,
            can: None,
        }
    }
}

/// The Active Authentication key made for the chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AaKeyKind {
    /// ISO/IEC 9796-2 with SHA-256.
    Rsa2048,
    /// ECDSA with SHA-256 (named in DG14).
    EcdsaP256,
}

/// The signature of EF.SOD (and of the test PKI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SodSignature {
    /// RSA-PSS with SHA-256, RSA-2048 keys.
    RsaPss,
    /// ECDSA with SHA-256 on P-256.
    EcdsaP256,
    /// ECDSA with SHA-256 on brainpoolP256r1.
    EcdsaBrainpoolP256r1,
}

impl AaKeyKind {
    /// `rsa-2048` or `ecdsa-p256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa-2048",
            Self::EcdsaP256 => "ecdsa-p256",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Rsa2048, Self::EcdsaP256]
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

impl SodSignature {
    /// `rsa-pss`, `ecdsa-p256` or `ecdsa-brainpoolp256r1`.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPss => "rsa-pss",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaBrainpoolP256r1 => "ecdsa-brainpoolp256r1",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::RsaPss, Self::EcdsaP256, Self::EcdsaBrainpoolP256r1]
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// Everything a specimen is made from.
#[derive(Clone, PartialEq, Eq)]
pub struct SpecimenOptions {
    pub mrz: MrzData,
    pub portrait: Portrait,
    /// The full name in national script (DG11, tag 5F0E).
    pub national_name: Option<String>,
    /// DG12: issuing authority, date of issue and the other details.
    pub additional_details: Option<lds::AdditionalDocumentDetails>,
    pub access: AccessOptions,
    pub active_authentication: Option<AaKeyKind>,
    /// Chip Authentication on this curve with this cipher.
    pub chip_authentication: Option<(Curve, CipherAlgorithm)>,
    pub signature: SodSignature,
    /// The hash of the data groups in EF.SOD (the signature itself always
    /// uses SHA-256).
    pub lds_hash: HashAlgorithm,
    /// Whether the CSCA's CRL lists the Document Signer as revoked.
    pub revoked_document_signer: bool,
}

/// A built specimen: the chip profile (files and secrets) and the test PKI.
#[derive(Clone)]
pub struct Specimen {
    pub profile: Profile,
    pub mrz: Mrz,
    /// The MRZ text, lines separated by newlines.
    pub mrz_text: String,
    pub csca: Vec<u8>,
    pub dsc: Vec<u8>,
    pub master_list: Vec<u8>,
    /// The CSCA's CRL (DER): empty, or listing the Document Signer.
    pub crl: Vec<u8>,
}

// Debug output leaves out names, numbers and dates: specimens carry
// realistic personal data, and debug output ends up in logs.
impl std::fmt::Debug for MrzData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MrzData")
            .field("document_type", &self.document_type)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SpecimenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecimenOptions")
            .field("mrz", &self.mrz)
            .field("portrait", &self.portrait)
            .field("access", &self.access)
            .field("active_authentication", &self.active_authentication)
            .field("chip_authentication", &self.chip_authentication)
            .field("signature", &self.signature)
            .field("lds_hash", &self.lds_hash)
            .field("revoked_document_signer", &self.revoked_document_signer)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Specimen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Specimen")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// Upper-case MRZ characters; spaces, hyphens and apostrophes become fillers.
fn mrz_chars(field: &'static str, text: &str) -> Result<String, SpecimenError> {
    let out: String = text
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' | '\'' | ',' => '<',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if out
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
    {
        Ok(out)
    } else {
        Err(SpecimenError::Field {
            field,
            message: "only Latin letters, digits, spaces and hyphens".into(),
        })
    }
}

/// `text` padded with fillers (or cut) to `width`.
fn fit(text: &str, width: usize) -> String {
    let mut s: String = text.chars().take(width).collect();
    while s.len() < width {
        s.push('<');
    }
    s
}

fn checked(field: &'static str, text: &str) -> Result<char, SpecimenError> {
    check_digit(text).map_err(|e| SpecimenError::Field {
        field,
        message: e.to_string(),
    })
}

fn date(field: &'static str, text: &str) -> Result<String, SpecimenError> {
    if text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(SpecimenError::Field {
            field,
            message: "expected YYMMDD".into(),
        })
    }
}

impl MrzData {
    /// The MRZ lines with every check digit.
    pub fn to_mrz_text(&self) -> Result<String, SpecimenError> {
        let state = fit(&mrz_chars("issuing_state", &self.issuing_state)?, 3);
        let nationality = fit(&mrz_chars("nationality", &self.nationality)?, 3);
        let number = mrz_chars("document_number", &self.document_number)?;
        if number.is_empty() || number.len() > 9 {
            return Err(SpecimenError::Field {
                field: "document_number",
                message: "1 to 9 characters".into(),
            });
        }
        let number = fit(&number, 9);
        let number_cd = checked("document_number", &number)?;
        let birth = date("date_of_birth", &self.date_of_birth)?;
        let expiry = date("date_of_expiry", &self.date_of_expiry)?;
        let birth_cd = checked("date_of_birth", &birth)?;
        let expiry_cd = checked("date_of_expiry", &expiry)?;
        let sex = match self.sex.to_ascii_uppercase() {
            c @ ('M' | 'F' | '<') => c,
            'X' => '<',
            _ => {
                return Err(SpecimenError::Field {
                    field: "sex",
                    message: "M, F or <".into(),
                });
            }
        };
        let name = format!(
            "{}<<{}",
            mrz_chars("surname", &self.surname)?,
            mrz_chars("given_names", &self.given_names)?
        );
        let optional = mrz_chars("optional_data", &self.optional_data)?;
        match self.document_type {
            DocumentType::Td3 => {
                let l1 = fit(&format!("P<{state}{name}"), 44);
                let personal = fit(&optional, 14);
                let personal_cd = if optional.is_empty() {
                    '<'
                } else {
                    checked("optional_data", &personal)?
                };
                let head = format!("{number}{number_cd}{nationality}{birth}{birth_cd}{sex}");
                let tail = format!("{expiry}{expiry_cd}{personal}{personal_cd}");
                let composite = format!(
                    "{}{}{}",
                    head.get(0..10).unwrap_or_default(),
                    head.get(13..20).unwrap_or_default(),
                    tail
                );
                let l2 = format!("{head}{tail}{}", checked("composite", &composite)?);
                Ok(format!("{l1}\n{l2}"))
            }
            DocumentType::Td1 => {
                let l1 = format!("I<{state}{number}{number_cd}{}", fit(&optional, 15));
                let l2_head = format!("{birth}{birth_cd}{sex}{expiry}{expiry_cd}{nationality}");
                let l2_body = fit(&l2_head, 29);
                let composite = format!(
                    "{}{}{}{}",
                    l1.get(5..30).unwrap_or_default(),
                    l2_body.get(0..7).unwrap_or_default(),
                    l2_body.get(8..15).unwrap_or_default(),
                    l2_body.get(18..29).unwrap_or_default()
                );
                let l2 = format!("{l2_body}{}", checked("composite", &composite)?);
                Ok(format!("{l1}\n{l2}\n{}", fit(&name, 30)))
            }
            DocumentType::Td2 => Err(SpecimenError::Field {
                field: "document_type",
                message: "specimens are TD1 or TD3".into(),
            }),
        }
    }
}

/// DG11 with the full name (`6B { 5C tag list, 5F0E name }`), UTF-8.
fn encode_dg11(name: &str) -> Vec<u8> {
    tlv::encode(
        0x6B,
        &[
            tlv::encode(0x5C, &[0x5F, 0x0E]),
            tlv::encode(0x5F0E, name.as_bytes()),
        ]
        .concat(),
    )
}

/// LDSSecurityObject v0: a hash of every data group.
fn lds_security_object(profile: &Profile, hash: HashAlgorithm) -> Vec<u8> {
    let hashes: Vec<Vec<u8>> = profile
        .files()
        .filter_map(|(file, bytes)| match file {
            LdsFile::Dg(n) => Some(tlv::encode(
                0x30,
                &[
                    tlv::encode(0x02, &[n]),
                    tlv::encode(0x04, &hash.digest(bytes)),
                ]
                .concat(),
            )),
            _ => None,
        })
        .collect();
    tlv::encode(
        0x30,
        &[
            tlv::encode(0x02, &[0]),
            crate::keys::algorithm_identifier(hash.oid(), &[]),
            tlv::encode(0x30, &hashes.concat()),
        ]
        .concat(),
    )
}

/// RSA-PSS signing for the CMS builder, which takes a deterministic
/// [`Signer`]: the salt comes from the operating system's generator.
struct PssSigner(rsa::pss::SigningKey<sha2::Sha256>);

impl Keypair for PssSigner {
    type VerifyingKey = rsa::pss::VerifyingKey<sha2::Sha256>;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.0.verifying_key()
    }
}

impl DynSignatureAlgorithmIdentifier for PssSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        self.0.signature_algorithm_identifier()
    }
}

impl Signer<rsa::pss::Signature> for PssSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<rsa::pss::Signature, signature::Error> {
        use signature::RandomizedSigner;
        self.0.try_sign_with_rng(&mut rand_core::OsRng, msg)
    }
}

/// ECDSA with SHA-256 on any curve of [`Curve`] (the RustCrypto brainpool
/// crates cannot sign yet), shaped for the certificate and CMS builders.
struct CurveSigner {
    key: PrivateKey,
}

/// The SubjectPublicKeyInfo of a [`CurveSigner`].
#[derive(Clone)]
struct CurveVerifyingKey(Vec<u8>);

impl spki::EncodePublicKey for CurveVerifyingKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::try_from(self.0.as_slice())?)
    }
}

/// A DER ECDSA signature.
struct DerEcdsa(Vec<u8>);

impl spki::SignatureBitStringEncoding for DerEcdsa {
    fn to_bitstring(&self) -> der::Result<der::asn1::BitString> {
        der::asn1::BitString::from_bytes(&self.0)
    }
}

impl Keypair for CurveSigner {
    type VerifyingKey = CurveVerifyingKey;
    fn verifying_key(&self) -> Self::VerifyingKey {
        CurveVerifyingKey(self.key.public_key().to_spki())
    }
}

impl DynSignatureAlgorithmIdentifier for CurveSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: HashAlgorithm::Sha256.ecdsa_oid(),
            parameters: None,
        })
    }
}

impl Signer<DerEcdsa> for CurveSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<DerEcdsa, signature::Error> {
        let PrivateKey::Ec { curve, scalar } = &self.key else {
            return Err(signature::Error::new());
        };
        let plain = curve
            .ecdsa_sign(
                scalar,
                &HashAlgorithm::Sha256.digest(msg),
                &mut rand_core::OsRng,
            )
            .map_err(|_| signature::Error::new())?;
        Ok(DerEcdsa(crate::keys::ecdsa_der_from_plain(&plain)))
    }
}

/// A signing key of the test PKI.
enum PkiKey {
    Rsa(Box<PssSigner>),
    Ec(p256::ecdsa::SigningKey),
    Curve(CurveSigner),
}

impl PkiKey {
    fn generate<R: CryptoRngCore>(kind: SodSignature, rng: &mut R) -> Result<Self, SpecimenError> {
        Ok(match kind {
            SodSignature::RsaPss => {
                let key = rsa::RsaPrivateKey::new(rng, 2048).map_err(signing_error)?;
                Self::Rsa(Box::new(PssSigner(rsa::pss::SigningKey::new(key))))
            }
            SodSignature::EcdsaP256 => Self::Ec(p256::ecdsa::SigningKey::random(rng)),
            SodSignature::EcdsaBrainpoolP256r1 => Self::Curve(CurveSigner {
                key: PrivateKey::generate_ec(Curve::BrainpoolP256r1, rng),
            }),
        })
    }

    fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, SpecimenError> {
        use spki::EncodePublicKey;
        let der = match self {
            Self::Rsa(k) => k.verifying_key().to_public_key_der(),
            Self::Ec(k) => k.verifying_key().to_public_key_der(),
            Self::Curve(k) => k.verifying_key().to_public_key_der(),
        }
        .map_err(signing_error)?;
        SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(signing_error)
    }

    /// Issues a certificate for `subject` with this key as issuer.
    fn issue(
        &self,
        profile: CertProfile,
        serial: u8,
        subject: &str,
        spki: SubjectPublicKeyInfoOwned,
    ) -> Result<Certificate, SpecimenError> {
        let validity = validity().map_err(signing_error)?;
        let subject = Name::from_str(subject).map_err(signing_error)?;
        let serial = SerialNumber::new(&[serial]).map_err(signing_error)?;
        match self {
            Self::Rsa(k) => {
                CertificateBuilder::new(profile, serial, validity, subject, spki, k.as_ref())
                    .map_err(signing_error)?
                    .build::<rsa::pss::Signature>()
                    .map_err(signing_error)
            }
            Self::Ec(k) => CertificateBuilder::new(profile, serial, validity, subject, spki, k)
                .map_err(signing_error)?
                .build::<p256::ecdsa::DerSignature>()
                .map_err(signing_error),
            Self::Curve(k) => CertificateBuilder::new(profile, serial, validity, subject, spki, k)
                .map_err(signing_error)?
                .build::<DerEcdsa>()
                .map_err(signing_error),
        }
    }

    /// The algorithm identifier of this key's signatures.
    fn algorithm(&self) -> Result<AlgorithmIdentifierOwned, SpecimenError> {
        match self {
            Self::Rsa(k) => k.signature_algorithm_identifier(),
            Self::Ec(k) => k.signature_algorithm_identifier(),
            Self::Curve(k) => k.signature_algorithm_identifier(),
        }
        .map_err(signing_error)
    }

    /// A signature over `message`, as an X.509 BIT STRING.
    fn sign(&self, message: &[u8]) -> Result<der::asn1::BitString, SpecimenError> {
        use spki::SignatureBitStringEncoding;
        match self {
            Self::Rsa(k) => Signer::<rsa::pss::Signature>::try_sign(k.as_ref(), message)
                .map_err(signing_error)?
                .to_bitstring(),
            Self::Ec(k) => Signer::<p256::ecdsa::DerSignature>::try_sign(k, message)
                .map_err(signing_error)?
                .to_bitstring(),
            Self::Curve(k) => Signer::<DerEcdsa>::try_sign(k, message)
                .map_err(signing_error)?
                .to_bitstring(),
        }
        .map_err(signing_error)
    }

    /// A version 2 CRL issued by this key as `issuer`, listing `revoked`
    /// serial numbers, valid from a day ago for thirty days.
    fn crl(
        &self,
        issuer: &Certificate,
        revoked: &[SerialNumber],
    ) -> Result<Vec<u8>, SpecimenError> {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let time = |t: SystemTime| {
            der::asn1::UtcTime::from_system_time(t)
                .map(Time::UtcTime)
                .map_err(signing_error)
        };
        let entries = revoked
            .iter()
            .map(|serial| {
                Ok(x509_cert::crl::RevokedCert {
                    serial_number: serial.clone(),
                    revocation_date: time(now - day)?,
                    crl_entry_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, SpecimenError>>()?;
        let algorithm = self.algorithm()?;
        let tbs = x509_cert::crl::TbsCertList {
            version: x509_cert::Version::V2,
            signature: algorithm.clone(),
            issuer: issuer.tbs_certificate.subject.clone(),
            this_update: time(now - day)?,
            next_update: Some(time(now + 30 * day)?),
            revoked_certificates: (!entries.is_empty()).then_some(entries),
            crl_extensions: None,
        };
        let signature = self.sign(&tbs.to_der().map_err(signing_error)?)?;
        x509_cert::crl::CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: algorithm,
            signature,
        }
        .to_der()
        .map_err(signing_error)
    }

    /// CMS SignedData over `content` of type `content_type`, signed by
    /// this key as `certificate`, which is included.
    fn sign_cms(
        &self,
        certificate: &Certificate,
        content_type: Oid,
        content: &[u8],
    ) -> Result<Vec<u8>, SpecimenError> {
        let econtent = Any::new(der::Tag::OctetString, content).map_err(signing_error)?;
        let info = EncapsulatedContentInfo {
            econtent_type: content_type,
            econtent: Some(econtent),
        };
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: certificate.tbs_certificate.issuer.clone(),
            serial_number: certificate.tbs_certificate.serial_number.clone(),
        });
        let digest = AlgorithmIdentifierOwned {
            oid: HashAlgorithm::Sha256.oid(),
            parameters: None,
        };
        let mut builder = SignedDataBuilder::new(&info);
        builder
            .add_digest_algorithm(digest.clone())
            .map_err(signing_error)?
            .add_certificate(CertificateChoices::Certificate(certificate.clone()))
            .map_err(signing_error)?;
        match self {
            Self::Rsa(k) => {
                let signer = SignerInfoBuilder::new(k.as_ref(), sid, digest, &info, None)
                    .map_err(signing_error)?;
                builder
                    .add_signer_info::<_, rsa::pss::Signature>(signer)
                    .map_err(signing_error)?;
            }
            Self::Ec(k) => {
                let signer =
                    SignerInfoBuilder::new(k, sid, digest, &info, None).map_err(signing_error)?;
                builder
                    .add_signer_info::<_, p256::ecdsa::DerSignature>(signer)
                    .map_err(signing_error)?;
            }
            Self::Curve(k) => {
                let signer =
                    SignerInfoBuilder::new(k, sid, digest, &info, None).map_err(signing_error)?;
                builder
                    .add_signer_info::<_, DerEcdsa>(signer)
                    .map_err(signing_error)?;
            }
        }
        builder
            .build()
            .map_err(signing_error)?
            .to_der()
            .map_err(signing_error)
    }
}

/// Ten years from a day ago (so a reader whose clock lags still accepts
/// a fresh specimen), in UTCTime as RFC 5280 asks before 2050.
fn validity() -> der::Result<Validity> {
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let time = |t: SystemTime| der::asn1::UtcTime::from_system_time(t).map(Time::UtcTime);
    Ok(Validity {
        not_before: time(now - day)?,
        not_after: time(now + 3650 * day)?,
    })
}

fn certificate_der(cert: &Certificate) -> Result<Vec<u8>, SpecimenError> {
    cert.to_der().map_err(signing_error)
}

impl Specimen {
    /// Builds the document, its chip keys and the test PKI.
    pub fn build<R: CryptoRngCore>(
        options: &SpecimenOptions,
        rng: &mut R,
    ) -> Result<Self, SpecimenError> {
        let mrz_text = options.mrz.to_mrz_text()?;
        let mrz = Mrz::parse(&mrz_text)?;
        let gender = match mrz.sex {
            'M' => 1,
            'F' => 2,
            _ => 0,
        };
        let mut profile = Profile::new()
            .with_file(LdsFile::Dg(1), lds::encode_dg1(&mrz_text))
            .with_file(LdsFile::Dg(2), options.portrait.encode_dg2(gender))
            .with_bac(options.access.bac);
        if let Some(name) = &options.national_name {
            profile.insert(LdsFile::Dg(11), encode_dg11(name));
        }
        if let Some(details) = &options.additional_details {
            profile.insert(LdsFile::Dg(12), lds::encode_dg12(details));
        }
        if let Some(can) = &options.access.can {
            profile = profile.with_can(can.clone());
        }
        let mut infos = SecurityInfos::default();
        if let Some(kind) = options.active_authentication {
            let aa = match kind {
                AaKeyKind::Rsa2048 => AaKey {
                    key: PrivateKey::generate_rsa(2048, rng)?,
                    hash: HashAlgorithm::Sha256,
                },
                AaKeyKind::EcdsaP256 => {
                    infos.active_authentication = Some(ActiveAuthenticationInfo {
                        hash: HashAlgorithm::Sha256,
                    });
                    AaKey {
                        key: PrivateKey::generate_ec(Curve::NistP256, rng),
                        hash: HashAlgorithm::Sha256,
                    }
                }
            };
            profile.insert(
                LdsFile::Dg(15),
                tlv::encode(0x6F, &aa.key.public_key().to_spki()),
            );
            profile = profile.with_active_authentication(aa);
        }
        if let Some((curve, cipher)) = options.chip_authentication {
            let ca = CaKey {
                key: PrivateKey::generate_ec(curve, rng),
                cipher,
                key_id: None,
            };
            infos.chip_authentication.push(ChipAuthenticationInfo {
                cipher,
                key_id: None,
            });
            infos
                .chip_authentication_keys
                .push(ChipAuthenticationPublicKey {
                    key: ca.key.public_key(),
                    key_id: None,
                });
            profile = profile.with_chip_authentication(ca);
        }
        if let Some(pace) = options.access.pace {
            profile.insert(LdsFile::CardAccess, PaceInfo::card_access(&[pace]));
            infos.pace.push(pace);
        }
        if infos != SecurityInfos::default() {
            profile.insert(LdsFile::Dg(14), infos.to_dg14());
        }
        let groups: Vec<LdsFile> = profile
            .files()
            .map(|(f, _)| f)
            .filter(|f| matches!(f, LdsFile::Dg(_)))
            .collect();
        profile.insert(LdsFile::Com, lds::encode_com(&groups));

        // The test PKI: CSCA, Document Signer, master-list signer.
        let country = options.mrz.issuing_state.trim().get(..2).unwrap_or("UT");
        let csca_key = PkiKey::generate(options.signature, rng)?;
        let csca = csca_key.issue(
            CertProfile::Root,
            1,
            &format!("CN=Specimen CSCA,O=Specimen,C={country}"),
            csca_key.spki()?,
        )?;
        let issuer = csca.tbs_certificate.subject.clone();
        let dsc_key = PkiKey::generate(options.signature, rng)?;
        let leaf = || CertProfile::Leaf {
            issuer: issuer.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        let dsc = csca_key.issue(
            leaf(),
            2,
            &format!("CN=Specimen Document Signer,O=Specimen,C={country}"),
            dsc_key.spki()?,
        )?;
        let sod = dsc_key.sign_cms(
            &dsc,
            LDS_SECURITY_OBJECT,
            &lds_security_object(&profile, options.lds_hash),
        )?;
        profile.insert(LdsFile::Sod, tlv::encode(0x77, &sod));

        let ml_key = PkiKey::generate(options.signature, rng)?;
        let ml_signer = csca_key.issue(
            leaf(),
            3,
            &format!("CN=Specimen Master List Signer,O=Specimen,C={country}"),
            ml_key.spki()?,
        )?;
        let revoked = if options.revoked_document_signer {
            vec![dsc.tbs_certificate.serial_number.clone()]
        } else {
            Vec::new()
        };
        let crl = csca_key.crl(&csca, &revoked)?;
        let csca_der = certificate_der(&csca)?;
        let master_list = tlv::encode(
            0x30,
            &[tlv::encode(0x02, &[0]), tlv::encode(0x31, &csca_der)].concat(),
        );
        let master_list = ml_key.sign_cms(&ml_signer, CSCA_MASTER_LIST, &master_list)?;

        Ok(Self {
            profile,
            mrz,
            mrz_text,
            csca: csca_der,
            dsc: certificate_der(&dsc)?,
            master_list,
            crl,
        })
    }

    /// Writes the LDS files, the PKI files, the chip keys and
    /// `profile.toml` into `dir` (created if missing).
    pub fn write_dir(&self, dir: &Path) -> Result<(), SpecimenError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| SpecimenError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let write = |name: &str, bytes: &[u8]| -> Result<(), SpecimenError> {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(io(&path))
        };
        for (file, bytes) in self.profile.files() {
            write(&file.name(), bytes)?;
        }
        write(CSCA_FILE, &self.csca)?;
        write(DSC_FILE, &self.dsc)?;
        write(MASTER_LIST_FILE, &self.master_list)?;
        write(CRL_FILE, &self.crl)?;
        let mut settings = ProfileSettings {
            bac: Some(self.profile.bac()),
            can: self.profile.can().map(|c| c.digits().to_owned()),
            ..ProfileSettings::default()
        };
        if let Some(card_access) = self.profile.get(LdsFile::CardAccess)
            && let Some(pace) = PaceInfo::parse_card_access(card_access)
                .ok()
                .and_then(|i| i.first().copied())
        {
            settings.pace = Some(PaceSettings {
                curve: pace.curve.name().to_owned(),
                cipher: cipher_name(pace.protocol.cipher).to_owned(),
            });
        }
        if let Some(aa) = self.profile.active_authentication() {
            write(AA_KEY_FILE, &aa.key.to_pkcs8_der()?)?;
            settings.active_authentication = Some(KeySettings {
                key: AA_KEY_FILE.into(),
                hash: Some(aa.hash.name().into()),
                cipher: None,
                key_id: None,
            });
        }
        if let Some(ca) = self.profile.chip_authentication() {
            write(CA_KEY_FILE, &ca.key.to_pkcs8_der()?)?;
            settings.chip_authentication = Some(KeySettings {
                key: CA_KEY_FILE.into(),
                hash: None,
                cipher: Some(cipher_name(ca.cipher).into()),
                key_id: ca.key_id,
            });
        }
        let text = Zeroizing::new(toml::to_string(&settings).map_err(signing_error)?);
        write(SETTINGS_FILE, text.as_bytes())
    }
}

/// A PACE variant by curve and cipher, as the CLI names them.
pub fn pace_info(curve: Curve, cipher: CipherAlgorithm) -> PaceInfo {
    PaceInfo {
        protocol: PaceProtocol { cipher },
        curve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_mrz_data_is_refused() {
        for kind in [AaKeyKind::Rsa2048, AaKeyKind::EcdsaP256] {
            assert_eq!(AaKeyKind::from_name(kind.name()), Some(kind));
        }
        for sig in [
            SodSignature::RsaPss,
            SodSignature::EcdsaP256,
            SodSignature::EcdsaBrainpoolP256r1,
        ] {
            assert_eq!(
                SodSignature::from_name(&sig.name().to_uppercase()),
                Some(sig)
            );
        }
        assert_eq!(SodSignature::from_name("dsa"), None);
        let mut data = MrzData {
            document_type: DocumentType::Td3,
            issuing_state: "UTO".into(),
            surname: "Eriksson".into(),
            given_names: "Anna Maria".into(),
            document_number: "L898902C3".into(),
            nationality: "UTO".into(),
            date_of_birth: "740812".into(),
            sex: 'F',
            date_of_expiry: "120415".into(),
            optional_data: "ZE184226B".into(),
        };
        // ICAO 9303-4 appendix's specimen passport, line for line
        assert_eq!(
            data.to_mrz_text().unwrap(),
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n\
             L898902C36UTO7408122F1204159ZE184226B<<<<<10"
        );
        let td1 = MrzData {
            document_type: DocumentType::Td1,
            document_number: "D23145890".into(),
            optional_data: String::new(),
            ..data.clone()
        };
        assert_eq!(
            td1.to_mrz_text().unwrap(),
            "I<UTOD231458907<<<<<<<<<<<<<<<\n\
             7408122F1204159UTO<<<<<<<<<<<6\n\
             ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
        );
        data.document_number = "L8989020C31".into();
        assert!(matches!(
            data.to_mrz_text(),
            Err(SpecimenError::Field {
                field: "document_number",
                ..
            })
        ));
        data.document_number = "L898902C3".into();
        data.surname = "张".into();
        assert!(data.to_mrz_text().is_err());
        data.surname = "ERIKSSON".into();
        data.date_of_birth = "7408".into();
        assert!(data.to_mrz_text().is_err());
    }
}
