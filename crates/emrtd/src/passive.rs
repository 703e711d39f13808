//! Passive Authentication (ICAO 9303-11 §5.1, 9303-12): EF.SOD is a CMS
//! SignedData whose LDSSecurityObject lists a hash of every data group; the
//! terminal checks the hashes of the groups it read, the Document Signer's
//! signature over them, and the DSC's chain to a trusted CSCA (from
//! certificate files or ICAO master lists) at a given time, and that no CRL
//! of that CSCA revokes the DSC.
//!
//! A CRL counts only when its issuing CSCA's signature over it verifies: a
//! CRL with a bad signature is ignored (logged, and named in the
//! verdict's `warnings`), so a forged CRL can neither revoke a genuine
//! Document Signer nor stop a genuine CRL from revoking one.

use crate::keys::{HashAlgorithm, PublicKey};
use crate::lds::LdsFile;
use crate::tlv::{self, TlvError};
use crate::verification::{Verdict, Verification};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::{Decode, Encode};
use rsa::traits::PublicKeyParts;
use spki::AlgorithmIdentifierOwned;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

/// Why a SOD, certificate or trust store file could not be read.
#[derive(Debug, Error)]
pub enum PassiveError {
    #[error("malformed encoding: {0}")]
    Tlv(#[from] TlvError),
    #[error("malformed CMS or certificate: {0}")]
    Der(#[from] der::Error),
    #[error("not a CMS SignedData")]
    NotSignedData,
    #[error("the signed content is not {0}")]
    WrongContent(&'static str),
    #[error("the master list's signature does not verify: {0}")]
    MasterList(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("PEM data is malformed")]
    Pem,
}

/// Deepest nesting the BER normaliser follows.
const MAX_BER_DEPTH: usize = 32;

/// Re-encodes BER with definite lengths (indefinite lengths and
/// constructed OCTET STRINGs, which some issuers use, become DER-shaped).
pub fn ber_to_der(bytes: &[u8]) -> Result<Vec<u8>, TlvError> {
    let (out, rest) = ber_object(bytes, 0)?;
    if !rest.is_empty() {
        return Err(TlvError::TruncatedValue {
            declared: bytes.len() - rest.len(),
            available: bytes.len(),
        });
    }
    Ok(out)
}

/// One BER object: its DER-shaped re-encoding and what follows it.
fn ber_object(bytes: &[u8], depth: usize) -> Result<(Vec<u8>, &[u8]), TlvError> {
    if depth > MAX_BER_DEPTH {
        return Err(TlvError::TooDeep);
    }
    let first = *bytes.first().ok_or(TlvError::TruncatedTag)?;
    let mut tag_len = 1;
    if first & 0x1F == 0x1F {
        while bytes.get(tag_len).ok_or(TlvError::TruncatedTag)? & 0x80 != 0 {
            tag_len += 1;
            if tag_len > 3 {
                return Err(TlvError::TagTooLong);
            }
        }
        tag_len += 1;
    }
    let tag_bytes = bytes.get(..tag_len).ok_or(TlvError::TruncatedTag)?;
    let tag = tag_bytes
        .iter()
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    let constructed = first & 0x20 != 0;
    let after_tag = bytes.get(tag_len..).ok_or(TlvError::TruncatedLength)?;
    if after_tag.first() == Some(&0x80) {
        // Indefinite length: children until the end-of-contents 00 00.
        if !constructed {
            return Err(TlvError::IndefiniteLength);
        }
        let mut rest = after_tag.get(1..).unwrap_or_default();
        let mut content = Vec::new();
        loop {
            if rest.starts_with(&[0, 0]) {
                rest = rest.get(2..).unwrap_or_default();
                break;
            }
            let (child, next) = ber_object(rest, depth + 1)?;
            content.push(child);
            rest = next;
        }
        return Ok((reassemble(tag, &content), rest));
    }
    let (parsed, rest) = tlv::parse(bytes)?;
    if !constructed {
        return Ok((tlv::encode(parsed.tag, parsed.value), rest));
    }
    let mut children = Vec::new();
    let mut inner = parsed.value;
    while !inner.is_empty() {
        let (child, next) = ber_object(inner, depth + 1)?;
        children.push(child);
        inner = next;
    }
    Ok((reassemble(parsed.tag, &children), rest))
}

/// A constructed object from re-encoded children; a constructed OCTET
/// STRING becomes the primitive one of its segments.
fn reassemble(tag: u32, children: &[Vec<u8>]) -> Vec<u8> {
    if tag == 0x24 {
        let joined: Vec<u8> = children
            .iter()
            .filter_map(|c| tlv::expect(c, 0x04).ok().map(|t| t.value.to_vec()))
            .flatten()
            .collect();
        return tlv::encode(0x04, &joined);
    }
    tlv::encode(tag, &children.concat())
}

/// The parsed EF.SOD.
#[derive(Debug, Clone)]
pub struct Sod {
    pub signed_data: SignedData,
    /// The LDSSecurityObject's hash function.
    pub hash: HashAlgorithm,
    /// Data group number → hash.
    pub hashes: BTreeMap<u8, Vec<u8>>,
}

fn signed_data_of(bytes: &[u8]) -> Result<SignedData, PassiveError> {
    let der = match ContentInfo::from_der(bytes) {
        Ok(info) => info,
        Err(_) => ContentInfo::from_der(&ber_to_der(bytes)?)?,
    };
    if der.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return Err(PassiveError::NotSignedData);
    }
    Ok(der.content.decode_as::<SignedData>()?)
}

fn econtent(
    sd: &SignedData,
    oid: der::oid::ObjectIdentifier,
    what: &'static str,
) -> Result<Vec<u8>, PassiveError> {
    if sd.encap_content_info.econtent_type != oid {
        return Err(PassiveError::WrongContent(what));
    }
    let content = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or(PassiveError::WrongContent(what))?;
    Ok(content.value().to_vec())
}

impl Sod {
    /// Parses EF.SOD, with or without its `77` application tag, DER or BER.
    pub fn parse(bytes: &[u8]) -> Result<Self, PassiveError> {
        let content = match tlv::expect(bytes, 0x77) {
            Ok(t) => t.value,
            Err(_) => bytes,
        };
        let signed_data = signed_data_of(content)?;
        let lso = econtent(
            &signed_data,
            crate::specimen::LDS_SECURITY_OBJECT,
            "an LDSSecurityObject",
        )?;
        let lso = tlv::expect(&lso, 0x30)?;
        let mut fields = lso.children();
        let _version = fields.next().ok_or(TlvError::Missing(0x02))??;
        let algorithm = fields.next().ok_or(TlvError::Missing(0x30))??;
        let oid = algorithm
            .children()
            .next()
            .ok_or(TlvError::Missing(0x06))??;
        let hash = HashAlgorithm::from_oid(oid.value)
            .ok_or(PassiveError::WrongContent("hashed with a known function"))?;
        let mut hashes = BTreeMap::new();
        for entry in fields.next().ok_or(TlvError::Missing(0x30))??.children() {
            let entry = entry?;
            let mut e = entry.children();
            let number = e.next().ok_or(TlvError::Missing(0x02))??;
            let value = e.next().ok_or(TlvError::Missing(0x04))??;
            if let (Some(n), 0x04) = (crate::keys::small_int(number.value), value.tag)
                && let Ok(n) = u8::try_from(n)
            {
                hashes.insert(n, value.value.to_vec());
            }
        }
        Ok(Self {
            signed_data,
            hash,
            hashes,
        })
    }
}

/// Trusted CSCA certificates and the CRLs their issuers published.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    cscas: Vec<Certificate>,
    crls: Vec<CertificateList>,
}

/// The base64 bodies of every `-----BEGIN {label}-----` block of `text`.
fn pem_blocks(text: &str, label: &str) -> Result<Vec<Vec<u8>>, PassiveError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    text.split(begin.as_str())
        .skip(1)
        .map(|block| {
            let body = block.split(end.as_str()).next().ok_or(PassiveError::Pem)?;
            let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            <base64ct::Base64 as base64ct::Encoding>::decode_vec(&b64)
                .map_err(|_| PassiveError::Pem)
        })
        .collect()
}

impl TrustStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.cscas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cscas.is_empty()
    }

    /// Adds one certificate, DER.
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), PassiveError> {
        self.cscas.push(Certificate::from_der(der)?);
        Ok(())
    }

    /// Adds every `CERTIFICATE` and `X509 CRL` block of PEM text; returns
    /// how many.
    pub fn add_pem(&mut self, text: &str) -> Result<usize, PassiveError> {
        let certificates = pem_blocks(text, "CERTIFICATE")?;
        let crls = pem_blocks(text, "X509 CRL")?;
        let added = certificates.len() + crls.len();
        for der in certificates {
            self.add_der(&der)?;
        }
        for der in crls {
            self.add_crl(&der)?;
        }
        Ok(added)
    }

    /// Adds one CRL, DER. Its signature is checked when it is used,
    /// against the CSCA that issued the certificate in question.
    pub fn add_crl(&mut self, der: &[u8]) -> Result<(), PassiveError> {
        self.crls.push(CertificateList::from_der(der)?);
        Ok(())
    }

    /// How many CRLs the store holds.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }

    /// Adds the CSCAs of an ICAO master list after checking its signature:
    /// the list signer's certificate must be issued by a CSCA in the list.
    pub fn add_master_list(&mut self, bytes: &[u8]) -> Result<usize, PassiveError> {
        let sd = signed_data_of(bytes)?;
        let list = econtent(&sd, crate::specimen::CSCA_MASTER_LIST, "a CSCA master list")?;
        let list = tlv::expect(&list, 0x30)?;
        let set = list.children().nth(1).ok_or(TlvError::Missing(0x31))??;
        let mut certs = Vec::new();
        let mut rest = set.value;
        while !rest.is_empty() {
            let (_, next) = tlv::parse(rest)?;
            let raw = rest.get(..rest.len() - next.len()).unwrap_or_default();
            certs.push(Certificate::from_der(raw)?);
            rest = next;
        }
        let (signer, _) = verify_signer(&sd).map_err(PassiveError::MasterList)?;
        if !certs.iter().any(|csca| issued_by(&signer, csca).is_ok()) {
            return Err(PassiveError::MasterList(
                "its signer is not issued by a CSCA of the list".into(),
            ));
        }
        let added = certs.len();
        self.cscas.extend(certs);
        Ok(added)
    }

    /// Loads a directory: certificates `*.der`, `*.cer`, `*.crt` (DER or
    /// PEM), `*.pem`, master lists `*.ml` and CRLs `*.crl` (DER or PEM);
    /// other files are ignored.
    pub fn load_dir(dir: &Path) -> Result<Self, PassiveError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| PassiveError::Io { path, source }
        };
        let mut store = Self::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            let Some(ext) = ext else { continue };
            if !Self::FILE_EXTENSIONS.contains(&ext.as_str()) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            store.add_file(&ext, &bytes)?;
        }
        Ok(store)
    }

    /// The (lowercase) extensions [`TrustStore::load_dir`] reads.
    pub const FILE_EXTENSIONS: [&str; 6] = ["der", "cer", "crt", "pem", "ml", "crl"];

    /// Adds the contents of one trust store file by its lowercase
    /// extension, as [`TrustStore::load_dir`] reads it; returns how many
    /// certificates, CRLs or list entries it added.
    pub fn add_file(&mut self, ext: &str, bytes: &[u8]) -> Result<usize, PassiveError> {
        if ext == "ml" {
            self.add_master_list(bytes)
        } else if bytes.starts_with(b"-----") {
            self.add_pem(&String::from_utf8_lossy(bytes))
        } else if ext == "crl" {
            self.add_crl(bytes).map(|()| 1)
        } else {
            self.add_der(bytes).map(|()| 1)
        }
    }
}

fn spki_key(cert: &Certificate) -> Result<PublicKey, String> {
    let der = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    PublicKey::from_spki(&der).map_err(|e| format!("the certificate's key is unusable: {e}"))
}

/// RSASSA-PSS-params: hash (default SHA-1) and salt length (default 20).
fn pss_params(params: Option<&der::Any>) -> Option<(HashAlgorithm, usize)> {
    let mut hash = HashAlgorithm::Sha1;
    let mut salt = 20;
    if let Some(params) = params {
        for field in tlv::Objects::new(params.value()) {
            let field = field.ok()?;
            match field.tag {
                0xA0 => {
                    let alg = tlv::expect(field.value, 0x30).ok()?;
                    let oid = alg.children().next()?.ok()?;
                    hash = HashAlgorithm::from_oid(oid.value)?;
                }
                0xA2 => {
                    let int = tlv::expect(field.value, 0x02).ok()?;
                    salt = crate::keys::small_int(int.value)? as usize;
                }
                _ => {}
            }
        }
    }
    Some((hash, salt))
}

/// Verifies `signature` over `message` with `key` under `algorithm`
/// (`digest` names the hash where the algorithm does not, as plain
/// rsaEncryption). Returns a description of the algorithm.
pub fn verify_signature(
    key: &PublicKey,
    algorithm: &AlgorithmIdentifierOwned,
    digest: Option<HashAlgorithm>,
    message: &[u8],
    signature: &[u8],
) -> Result<String, String> {
    let oid = algorithm.oid.as_bytes();
    let arc = |prefix: &[u8]| oid.strip_prefix(prefix).and_then(|r| r.first().copied());
    // 1.2.840.113549.1.1.x and 1.2.840.10045.4.x
    const PKCS1: [u8; 8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01];
    const ECDSA_SHA2: [u8; 7] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03];
    let ecdsa_sha1 = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01];
    let unsupported = || format!("signature algorithm {} is not supported", algorithm.oid);
    match (key, oid) {
        (PublicKey::Rsa(rsa_key), _) if oid.len() == PKCS1.len() + 1 && oid.starts_with(&PKCS1) => {
            let (hash, pss) = match arc(&PKCS1) {
                Some(1) => (digest.ok_or_else(unsupported)?, None),
                Some(5) => (HashAlgorithm::Sha1, None),
                Some(14) => (HashAlgorithm::Sha224, None),
                Some(11) => (HashAlgorithm::Sha256, None),
                Some(12) => (HashAlgorithm::Sha384, None),
                Some(13) => (HashAlgorithm::Sha512, None),
                Some(10) => {
                    let (hash, salt) = pss_params(algorithm.parameters.as_ref())
                        .ok_or("the RSA-PSS parameters are malformed")?;
                    (hash, Some(salt))
                }
                _ => return Err(unsupported()),
            };
            let hashed = hash.digest(message);
            macro_rules! scheme {
                ($d:ty) => {
                    match pss {
                        Some(salt) => rsa_key.verify(
                            rsa::pss::Pss::new_with_salt::<$d>(salt),
                            &hashed,
                            signature,
                        ),
                        None => rsa_key.verify(rsa::Pkcs1v15Sign::new::<$d>(), &hashed, signature),
                    }
                };
            }
            let result = match hash {
                HashAlgorithm::Sha1 => scheme!(sha1::Sha1),
                HashAlgorithm::Sha224 => scheme!(sha2::Sha224),
                HashAlgorithm::Sha256 => scheme!(sha2::Sha256),
                HashAlgorithm::Sha384 => scheme!(sha2::Sha384),
                HashAlgorithm::Sha512 => scheme!(sha2::Sha512),
            };
            let name = format!(
                "RSA-{} {} {}",
                rsa_key.n().bits(),
                if pss.is_some() { "PSS" } else { "PKCS#1 v1.5" },
                hash.name()
            );
            result
                .map(|()| name)
                .map_err(|_| "the RSA signature does not verify".into())
        }
        (PublicKey::Ec { curve, point }, _) => {
            let hash = if oid == ecdsa_sha1 {
                HashAlgorithm::Sha1
            } else if oid.len() == ECDSA_SHA2.len() + 1 {
                match arc(&ECDSA_SHA2) {
                    Some(1) => HashAlgorithm::Sha224,
                    Some(2) => HashAlgorithm::Sha256,
                    Some(3) => HashAlgorithm::Sha384,
                    Some(4) => HashAlgorithm::Sha512,
                    _ => return Err(unsupported()),
                }
            } else {
                return Err(unsupported());
            };
            let plain = crate::keys::ecdsa_plain_from_der(signature, curve.field_len())
                .ok_or("the ECDSA signature is malformed")?;
            if curve.ecdsa_verify(point, &hash.digest(message), &plain) {
                Ok(format!("ECDSA {} {}", curve.name(), hash.name()))
            } else {
                Err("the ECDSA signature does not verify".into())
            }
        }
        _ => Err(unsupported()),
    }
}

/// Whether `issuer` signed the to-be-signed part `tbs` (named
/// `issuer_name`) with `signature` under `algorithm`.
fn signed_by(
    issuer_name: &x509_cert::name::Name,
    tbs: der::Result<Vec<u8>>,
    algorithm: &AlgorithmIdentifierOwned,
    signature: &der::asn1::BitString,
    issuer: &Certificate,
) -> Result<String, String> {
    if *issuer_name != issuer.tbs_certificate.subject {
        return Err("issuer names differ".into());
    }
    let tbs = tbs.map_err(|e| e.to_string())?;
    let signature = signature
        .as_bytes()
        .ok_or("the signature is not whole bytes")?;
    verify_signature(&spki_key(issuer)?, algorithm, None, &tbs, signature)
}

/// Whether `issuer` signed `cert`.
fn issued_by(cert: &Certificate, issuer: &Certificate) -> Result<String, String> {
    signed_by(
        &cert.tbs_certificate.issuer,
        cert.tbs_certificate.to_der(),
        &cert.signature_algorithm,
        &cert.signature,
        issuer,
    )
}

/// What the CRLs of a certificate's issuer say about it.
#[derive(Debug, Default)]
struct Revocation {
    /// When a CRL with a good signature lists the certificate.
    revoked_on: Option<String>,
    /// CRLs whose signature verifies.
    checked: usize,
    /// Why CRLs naming the issuer were ignored.
    ignored: Vec<String>,
}

/// Looks `cert` up in the CRLs of `trust` issued by any of `issuers`.
fn revocation(cert: &Certificate, issuers: &[&Certificate], trust: &TrustStore) -> Revocation {
    let mut found = Revocation::default();
    let from_issuer = trust
        .crls
        .iter()
        .filter(|crl| crl.tbs_cert_list.issuer == cert.tbs_certificate.issuer);
    for crl in from_issuer {
        let list = &crl.tbs_cert_list;
        let verified = issuers.iter().any(|issuer| {
            signed_by(
                &list.issuer,
                list.to_der(),
                &crl.signature_algorithm,
                &crl.signature,
                issuer,
            )
            .is_ok()
        });
        if !verified {
            tracing::warn!(issuer = %list.issuer, "a CRL whose signature does not verify is ignored");
            found.ignored.push(format!(
                "a CRL naming {} as issuer was ignored: its signature does not verify",
                list.issuer
            ));
            continue;
        }
        found.checked += 1;
        let listed = list
            .revoked_certificates
            .iter()
            .flatten()
            .find(|entry| entry.serial_number == cert.tbs_certificate.serial_number);
        if let Some(entry) = listed {
            found.revoked_on = Some(entry.revocation_date.to_string());
        }
    }
    found
}

fn signer_certificate<'a>(sd: &'a SignedData, signer: &SignerInfo) -> Option<&'a Certificate> {
    let certs = sd.certificates.as_ref()?;
    certs.0.iter().find_map(|choice| match choice {
        cms::cert::CertificateChoices::Certificate(cert) => {
            let matches = match &signer.sid {
                SignerIdentifier::IssuerAndSerialNumber(id) => {
                    cert.tbs_certificate.issuer == id.issuer
                        && cert.tbs_certificate.serial_number == id.serial_number
                }
                // Subject key identifiers: the one certificate is taken.
                SignerIdentifier::SubjectKeyIdentifier(_) => true,
            };
            matches.then_some(cert)
        }
        _ => None,
    })
}

/// Checks the first signer of `sd`: its messageDigest over the content
/// and its signature. Returns the signer's certificate and algorithm.
fn verify_signer(sd: &SignedData) -> Result<(Certificate, String), String> {
    let signer = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or("the SignedData has no signer")?;
    let cert = signer_certificate(sd, signer)
        .ok_or("the SignedData does not carry its signer's certificate")?;
    let digest = HashAlgorithm::from_oid(signer.digest_alg.oid.as_bytes())
        .ok_or("the signer's digest algorithm is not supported")?;
    let content = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or("the SignedData has no content")?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("the signer has no signed attributes")?;
    let message_digest = attrs
        .iter()
        .find(|a| a.oid == const_oid::db::rfc5911::ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .ok_or("the signed attributes have no messageDigest")?;
    if message_digest.value() != digest.digest(content.value()).as_slice() {
        return Err("the messageDigest does not match the signed content".into());
    }
    let signed = attrs.to_der().map_err(|e| e.to_string())?;
    let algorithm = verify_signature(
        &spki_key(cert)?,
        &signer.signature_algorithm,
        Some(digest),
        &signed,
        signer.signature.as_bytes(),
    )?;
    Ok((cert.clone(), algorithm))
}

fn valid_at(cert: &Certificate, at: SystemTime) -> bool {
    let validity = &cert.tbs_certificate.validity;
    validity.not_before.to_system_time() <= at && at <= validity.not_after.to_system_time()
}

/// Passive Authentication of the files read from a chip, against `trust`,
/// at time `at`.
pub fn verify(
    files: &BTreeMap<LdsFile, Vec<u8>>,
    trust: &TrustStore,
    at: SystemTime,
) -> Verification {
    let Some(sod) = files.get(&LdsFile::Sod) else {
        return Verification::not_supported("the document has no EF.SOD");
    };
    let sod = match Sod::parse(sod) {
        Ok(sod) => sod,
        Err(e) => return Verification::invalid(format!("EF.SOD is unusable: {e}")),
    };
    for (file, bytes) in files {
        let LdsFile::Dg(n) = file else { continue };
        match sod.hashes.get(n) {
            None => return Verification::invalid(format!("EF.SOD has no hash for DG{n}")),
            Some(hash) if *hash != sod.hash.digest(bytes) => {
                return Verification::invalid(format!(
                    "DG{n} does not match its {} hash in EF.SOD",
                    sod.hash.name()
                ));
            }
            Some(_) => {}
        }
    }
    let (dsc, algorithm) = match verify_signer(&sod.signed_data) {
        Ok(found) => found,
        Err(reason) => {
            return Verification::invalid(format!("the Document Signer signature: {reason}"));
        }
    };
    let with_algorithm = |v: Verification| v.with_algorithm(algorithm.clone());
    if !valid_at(&dsc, at) {
        return with_algorithm(Verification::invalid(
            "the Document Signer certificate is not valid at this time",
        ));
    }
    let issuers: Vec<&Certificate> = trust
        .cscas
        .iter()
        .filter(|csca| issued_by(&dsc, csca).is_ok())
        .collect();
    if issuers.is_empty() {
        return with_algorithm(Verification::new(
            Verdict::Untrusted,
            format!(
                "no trusted CSCA issued the Document Signer certificate (issuer {})",
                dsc.tbs_certificate.issuer
            ),
        ));
    }
    if !issuers.iter().any(|csca| valid_at(csca, at)) {
        return with_algorithm(Verification::invalid(
            "the issuing CSCA certificate is not valid at this time",
        ));
    }
    let revocation = revocation(&dsc, &issuers, trust);
    let verdict = if let Some(date) = &revocation.revoked_on {
        Verification::invalid(format!(
            "the Document Signer certificate is revoked: its CSCA's CRL lists it since {date}"
        ))
    } else {
        let crls = match revocation.checked {
            0 => String::new(),
            n => format!("; no CRL of its CSCA ({n} checked) revokes it"),
        };
        Verification::valid(format!(
            "{} data group hashes match; the Document Signer signature verifies and chains to a trusted CSCA{crls}",
            sod.hashes.len()
        ))
    };
    with_algorithm(verdict.with_warnings(revocation.ignored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec::Curve;
    use crate::keys::PrivateKey;

    fn algorithm(oid: &str) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: der::oid::ObjectIdentifier::new_unwrap(oid),
            parameters: None,
        }
    }

    #[test]
    fn verifies_pkcs1_v15_and_brainpool_ecdsa() {
        let message = b"signed attributes";
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
        let hashed = HashAlgorithm::Sha256.digest(message);
        let sig = key
            .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed)
            .unwrap();
        let public = PublicKey::Rsa(key.to_public_key());
        for (oid, digest) in [
            ("1.2.840.113549.1.1.11", None),
            ("1.2.840.113549.1.1.1", Some(HashAlgorithm::Sha256)),
        ] {
            let alg = verify_signature(&public, &algorithm(oid), digest, message, &sig).unwrap();
            assert_eq!(alg, "RSA-1024 PKCS#1 v1.5 SHA-256");
        }
        assert!(
            verify_signature(
                &public,
                &algorithm("1.2.840.113549.1.1.12"),
                None,
                message,
                &sig
            )
            .is_err()
        );
        for curve in [Curve::BrainpoolP256r1, Curve::BrainpoolP384r1] {
            let key = PrivateKey::generate_ec(curve, &mut rand_core::OsRng);
            let PrivateKey::Ec { scalar, .. } = &key else {
                unreachable!()
            };
            let hash = HashAlgorithm::Sha384.digest(message);
            let plain = curve
                .ecdsa_sign(scalar, &hash, &mut rand_core::OsRng)
                .unwrap();
            let sig = crate::keys::ecdsa_der_from_plain(&plain);
            let alg = verify_signature(
                &key.public_key(),
                &algorithm("1.2.840.10045.4.3.3"),
                None,
                message,
                &sig,
            )
            .unwrap();
            assert_eq!(alg, format!("ECDSA {} SHA-384", curve.name()));
            assert!(
                verify_signature(
                    &key.public_key(),
                    &algorithm("1.2.840.10045.4.3.2"),
                    None,
                    message,
                    &sig
                )
                .is_err()
            );
            assert!(
                verify_signature(
                    &public,
                    &algorithm("1.2.840.10045.4.3.3"),
                    None,
                    message,
                    &sig
                )
                .is_err()
            );
        }
    }
}
