//! The asymmetric keys of the authentication protocols: public keys as the
//! chip publishes them (SubjectPublicKeyInfo in DG14/DG15 and certificates),
//! private keys as PKCS#8 files for the virtual chip, and the hash
//! functions the signatures use.

use crate::ec::{Curve, EcError};
use crate::tlv::{self, TlvError};
use der::oid::ObjectIdentifier as Oid;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Digest;
use thiserror::Error;
use zeroize::Zeroizing;

pub(crate) const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// id-PK-ECDH (BSI TR-03110): the algorithm of chip authentication keys.
pub(crate) const PK_ECDH: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.1.2");

/// Why a key is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the key encoding is malformed: {0}")]
    Tlv(#[from] TlvError),
    #[error("the key encoding is malformed")]
    Malformed,
    #[error("the key's algorithm or curve is not supported")]
    Unsupported,
    #[error("the elliptic-curve key is invalid: {0}")]
    Point(#[from] EcError),
}

/// The hash functions of ICAO 9303 signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The digest algorithm OID (RFC 3279, RFC 5758).
    pub fn oid(self) -> Oid {
        match self {
            Self::Sha1 => Oid::new_unwrap("1.3.14.3.2.26"),
            Self::Sha224 => Oid::new_unwrap("2.16.840.1.101.3.4.2.4"),
            Self::Sha256 => Oid::new_unwrap("2.16.840.1.101.3.4.2.1"),
            Self::Sha384 => Oid::new_unwrap("2.16.840.1.101.3.4.2.2"),
            Self::Sha512 => Oid::new_unwrap("2.16.840.1.101.3.4.2.3"),
        }
    }

    pub fn all() -> [Self; 5] {
        [
            Self::Sha1,
            Self::Sha224,
            Self::Sha256,
            Self::Sha384,
            Self::Sha512,
        ]
    }

    pub fn from_oid(oid: &[u8]) -> Option<Self> {
        Self::all().into_iter().find(|h| h.oid().as_bytes() == oid)
    }

    /// ecdsa-with-SHAxxx (RFC 5758), as DG14's ActiveAuthenticationInfo names it.
    pub fn ecdsa_oid(self) -> Oid {
        match self {
            Self::Sha1 => Oid::new_unwrap("1.2.840.10045.4.1"),
            Self::Sha224 => Oid::new_unwrap("1.2.840.10045.4.3.1"),
            Self::Sha256 => Oid::new_unwrap("1.2.840.10045.4.3.2"),
            Self::Sha384 => Oid::new_unwrap("1.2.840.10045.4.3.3"),
            Self::Sha512 => Oid::new_unwrap("1.2.840.10045.4.3.4"),
        }
    }

    pub fn from_ecdsa_oid(oid: &[u8]) -> Option<Self> {
        Self::all()
            .into_iter()
            .find(|h| h.ecdsa_oid().as_bytes() == oid)
    }

    /// The name used in reports, e.g. `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha224 => "SHA-224",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }
}

/// A public key of a chip or a certificate.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(RsaPublicKey),
    /// An uncompressed SEC 1 point.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// DER `SEQUENCE { OID, parameters }`.
pub(crate) fn algorithm_identifier(oid: Oid, parameters: &[u8]) -> Vec<u8> {
    tlv::encode(
        0x30,
        &[tlv::encode(0x06, oid.as_bytes()), parameters.to_vec()].concat(),
    )
}

/// DER BIT STRING with no unused bits.
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv::encode(0x03, &[&[0u8][..], bytes].concat())
}

/// The curve named by EC domain parameters: a named-curve OID, explicit
/// ECParameters (recognised by their prime), or a standardized domain
/// parameter ID (BSI TR-03110).
fn curve_of_parameters(parameters: Option<tlv::Tlv<'_>>) -> Result<Curve, KeyError> {
    let parameters = parameters.ok_or(KeyError::Unsupported)?;
    match parameters.tag {
        0x06 => Curve::from_oid(parameters.value).ok_or(KeyError::Unsupported),
        0x02 => small_int(parameters.value)
            .and_then(Curve::from_parameter_id)
            .ok_or(KeyError::Unsupported),
        0x30 => {
            // ECParameters { version, FieldID { prime-field, p }, .. }
            let mut fields = parameters.children();
            let _version = fields.next().ok_or(KeyError::Malformed)??;
            let field_id = fields.next().ok_or(KeyError::Malformed)??;
            let prime = field_id.children().nth(1).ok_or(KeyError::Malformed)??;
            Curve::from_prime(prime.value).ok_or(KeyError::Unsupported)
        }
        _ => Err(KeyError::Unsupported),
    }
}

pub(crate) fn small_int(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki(der: &[u8]) -> Result<Self, KeyError> {
        let spki = tlv::expect(der, 0x30)?;
        let mut fields = spki.children();
        let algorithm = fields.next().ok_or(KeyError::Malformed)??;
        let key = fields.next().ok_or(KeyError::Malformed)??;
        if algorithm.tag != 0x30 || key.tag != 0x03 {
            return Err(KeyError::Malformed);
        }
        let key = match key.value.split_first() {
            Some((0, rest)) => rest,
            _ => return Err(KeyError::Malformed),
        };
        let mut alg = algorithm.children();
        let oid = alg.next().ok_or(KeyError::Malformed)??;
        let parameters = alg.next().transpose()?;
        if oid.value == RSA_ENCRYPTION.as_bytes() {
            return RsaPublicKey::from_pkcs1_der(key)
                .map(Self::Rsa)
                .map_err(|_| KeyError::Malformed);
        }
        if oid.value != EC_PUBLIC_KEY.as_bytes() && oid.value != PK_ECDH.as_bytes() {
            return Err(KeyError::Unsupported);
        }
        let curve = curve_of_parameters(parameters)?;
        if !curve.is_valid_point(key) {
            return Err(EcError::InvalidPoint.into());
        }
        Ok(Self::Ec {
            curve,
            point: key.to_vec(),
        })
    }

    /// DER SubjectPublicKeyInfo (EC keys with a named curve).
    pub fn to_spki(&self) -> Vec<u8> {
        match self {
            Self::Rsa(key) => key
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .unwrap_or_default(),
            Self::Ec { curve, point } => tlv::encode(
                0x30,
                &[
                    algorithm_identifier(EC_PUBLIC_KEY, &tlv::encode(0x06, curve.oid().as_bytes())),
                    bit_string(point),
                ]
                .concat(),
            ),
        }
    }

    /// E.g. `RSA-2048` or `ECDSA brainpoolP256r1`.
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa(key) => format!("RSA-{}", key.n().bits()),
            Self::Ec { curve, .. } => format!("EC {}", curve.name()),
        }
    }
}

/// An ECDSA signature as X.509 and CMS carry it, `SEQUENCE { r, s }`,
/// from the plain `r || s`.
pub fn ecdsa_der_from_plain(plain: &[u8]) -> Vec<u8> {
    let (r, s) = plain.split_at(plain.len() / 2);
    let int = |v: &[u8]| {
        let skip = v.iter().take_while(|b| **b == 0).count();
        let mut value = v.get(skip..).unwrap_or_default().to_vec();
        if value.first().is_none_or(|b| b & 0x80 != 0) {
            value.insert(0, 0);
        }
        tlv::encode(0x02, &value)
    };
    tlv::encode(0x30, &[int(r), int(s)].concat())
}

/// The plain `r || s` of `len` bytes each from a DER ECDSA signature.
pub fn ecdsa_plain_from_der(der: &[u8], len: usize) -> Option<Vec<u8>> {
    let seq = tlv::expect(der, 0x30).ok()?;
    let mut out = Vec::with_capacity(2 * len);
    for int in seq.children().take(2) {
        let int = int.ok()?;
        let skip = int.value.iter().take_while(|b| **b == 0).count();
        let v = int.value.get(skip..)?;
        if v.len() > len {
            return None;
        }
        out.extend(std::iter::repeat_n(0, len - v.len()));
        out.extend_from_slice(v);
    }
    (out.len() == 2 * len).then_some(out)
}

/// A private key of the virtual chip or a test signer.
#[derive(Clone)]
pub enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    Ec {
        curve: Curve,
        scalar: Zeroizing<Vec<u8>>,
    },
}

impl std::fmt::Debug for PrivateKey {
    // Never the key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.public_key().describe())
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.public_key() == other.public_key()
    }
}

impl Eq for PrivateKey {}

impl PrivateKey {
    /// A fresh key on `curve`.
    pub fn generate_ec<R: rand_core::RngCore + ?Sized>(curve: Curve, rng: &mut R) -> Self {
        Self::Ec {
            curve,
            scalar: curve.random_scalar(rng),
        }
    }

    /// A fresh RSA key of `bits` bits with exponent 65537.
    pub fn generate_rsa<R: rand_core::CryptoRngCore + ?Sized>(
        bits: usize,
        rng: &mut R,
    ) -> Result<Self, KeyError> {
        RsaPrivateKey::new(rng, bits)
            .map(|k| Self::Rsa(Box::new(k)))
            .map_err(|_| KeyError::Unsupported)
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Rsa(key) => PublicKey::Rsa(key.to_public_key()),
            Self::Ec { curve, scalar } => PublicKey::Ec {
                curve: *curve,
                point: curve.public_key(scalar).unwrap_or_default(),
            },
        }
    }

    /// Reads a PKCS#8 PrivateKeyInfo (RSA, or EC with a named curve).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = tlv::expect(der, 0x30)?;
        let mut fields = info.children();
        let _version = fields.next().ok_or(KeyError::Malformed)??;
        let algorithm = fields.next().ok_or(KeyError::Malformed)??;
        let mut alg = algorithm.children();
        let oid = alg.next().ok_or(KeyError::Malformed)??;
        if oid.value == RSA_ENCRYPTION.as_bytes() {
            return RsaPrivateKey::from_pkcs8_der(der)
                .map(|k| Self::Rsa(Box::new(k)))
                .map_err(|_| KeyError::Malformed);
        }
        if oid.value != EC_PUBLIC_KEY.as_bytes() {
            return Err(KeyError::Unsupported);
        }
        let curve = curve_of_parameters(alg.next().transpose()?)?;
        let octets = fields.next().ok_or(KeyError::Malformed)??;
        // ECPrivateKey { version 1, privateKey OCTET STRING, .. }
        let ec_key = tlv::expect(octets.value, 0x30)?;
        let scalar = ec_key.children().nth(1).ok_or(KeyError::Malformed)??;
        if scalar.tag != 0x04 || scalar.value.len() > curve.field_len() {
            return Err(KeyError::Malformed);
        }
        let mut padded = Zeroizing::new(vec![0u8; curve.field_len() - scalar.value.len()]);
        padded.extend_from_slice(scalar.value);
        curve.public_key(&padded)?;
        Ok(Self::Ec {
            curve,
            scalar: padded,
        })
    }

    /// PKCS#8 PrivateKeyInfo, DER.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match self {
            Self::Rsa(key) => key
                .to_pkcs8_der()
                .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
                .map_err(|_| KeyError::Malformed),
            Self::Ec { curve, scalar } => {
                let public = curve.public_key(scalar)?;
                let ec_key = Zeroizing::new(tlv::encode(
                    0x30,
                    &[
                        tlv::encode(0x02, &[1]),
                        tlv::encode(0x04, scalar),
                        tlv::encode(0xA1, &bit_string(&public)),
                    ]
                    .concat(),
                ));
                Ok(Zeroizing::new(tlv::encode(
                    0x30,
                    &[
                        tlv::encode(0x02, &[0]),
                        algorithm_identifier(
                            EC_PUBLIC_KEY,
                            &tlv::encode(0x06, curve.oid().as_bytes()),
                        ),
                        tlv::encode(0x04, &ec_key),
                    ]
                    .concat(),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_keys_round_trip_through_pkcs8_and_spki() {
        for curve in Curve::all() {
            let key = PrivateKey::generate_ec(curve, &mut rand_core::OsRng);
            let der = key.to_pkcs8_der().unwrap();
            let back = PrivateKey::from_pkcs8_der(&der).unwrap();
            assert_eq!(back, key);
            let public = key.public_key();
            assert_eq!(PublicKey::from_spki(&public.to_spki()).unwrap(), public);
        }
        // the p256 crate reads our PKCS#8
        use p256::pkcs8::DecodePrivateKey;
        let key = PrivateKey::generate_ec(Curve::NistP256, &mut rand_core::OsRng);
        let theirs = p256::SecretKey::from_pkcs8_der(&key.to_pkcs8_der().unwrap()).unwrap();
        let PrivateKey::Ec { scalar, .. } = &key else {
            unreachable!()
        };
        assert_eq!(theirs.to_bytes().as_slice(), scalar.as_slice());
        assert!(PrivateKey::from_pkcs8_der(&[0x30, 0x00]).is_err());
        assert!(PublicKey::from_spki(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_err());
    }
}
