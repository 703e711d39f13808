//! Elliptic-curve arithmetic for PACE on the standardized domain parameters
//! a chip may choose: NIST P-256 and P-384 (RustCrypto `p256`/`p384`) and
//! brainpoolP256r1/P384r1 (short-Weierstrass arithmetic over `crypto-bigint`,
//! since the RustCrypto brainpool crates do not yet ship working arithmetic).
//!
//! Points cross this module's boundary as uncompressed SEC 1 bytes
//! (04 || x || y) and scalars as big-endian bytes, so PACE code is the same
//! for every curve.

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, U384};
use elliptic_curve::ops::Reduce;
use elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use rand_core::RngCore;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use thiserror::Error;
use zeroize::Zeroizing;

/// Why a point or scalar was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EcError {
    #[error("the point is not an uncompressed point on the curve")]
    InvalidPoint,
    #[error("the result is the point at infinity")]
    Identity,
    #[error("the scalar is longer than the curve's order")]
    ScalarTooLong,
}

/// The standardized domain parameters of ICAO 9303-11 §9.5.1 this crate
/// supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    NistP256,
    BrainpoolP256r1,
    NistP384,
    BrainpoolP384r1,
}

const BP256: [&str; 6] = [
    "A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377",
    "7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9",
    "26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6",
    "8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262",
    "547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997",
    "A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7",
];

const BP384: [&str; 6] = [
    "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123ACD3A729901D1A71874700133107EC53",
    "7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787139165EFBA91F90F8AA5814A503AD4EB04A8C7DD22CE2826",
    "04A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D57CB4390295DBC9943AB78696FA504C11",
    "1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3DB7FCAFE0CBD10E8E826E03436D646AAEF87B2E247D4AF1E",
    "8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864E19C054FF99129280E4646217791811142820341263C5315",
    "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565",
];

const P256_ORDER: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
const P384_ORDER: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973";

fn uint(hex: &str) -> U384 {
    let mut bytes = [0u8; 48];
    let raw = hex::decode(hex).unwrap_or_default();
    let start = 48usize.saturating_sub(raw.len());
    if let Some(dst) = bytes.get_mut(start..) {
        dst.copy_from_slice(raw.get(..dst.len()).unwrap_or_default());
    }
    U384::from_be_slice(&bytes)
}

/// Left-pads big-endian bytes to 48 for `U384`; `None` if longer.
fn uint_from_bytes(bytes: &[u8]) -> Option<U384> {
    let mut out = [0u8; 48];
    let start = 48usize.checked_sub(bytes.len())?;
    out.get_mut(start..)?.copy_from_slice(bytes);
    Some(U384::from_be_slice(&out))
}

impl Curve {
    /// Standardized domain parameter IDs (ICAO 9303-11 table 6).
    pub fn from_parameter_id(id: u32) -> Option<Self> {
        match id {
            12 => Some(Self::NistP256),
            13 => Some(Self::BrainpoolP256r1),
            15 => Some(Self::NistP384),
            16 => Some(Self::BrainpoolP384r1),
            _ => None,
        }
    }

    pub fn parameter_id(self) -> u32 {
        match self {
            Self::NistP256 => 12,
            Self::BrainpoolP256r1 => 13,
            Self::NistP384 => 15,
            Self::BrainpoolP384r1 => 16,
        }
    }

    /// Bytes of one coordinate (and of a scalar).
    pub fn field_len(self) -> usize {
        match self {
            Self::NistP256 | Self::BrainpoolP256r1 => 32,
            Self::NistP384 | Self::BrainpoolP384r1 => 48,
        }
    }

    fn order(self) -> U384 {
        match self {
            Self::NistP256 => uint(P256_ORDER),
            Self::NistP384 => uint(P384_ORDER),
            Self::BrainpoolP256r1 => uint(BP256[5]),
            Self::BrainpoolP384r1 => uint(BP384[5]),
        }
    }

    /// The curve's base point.
    pub fn generator(self) -> Vec<u8> {
        match self {
            Self::NistP256 => p256::AffinePoint::GENERATOR
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            Self::NistP384 => p384::AffinePoint::GENERATOR
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            Self::BrainpoolP256r1 => Weierstrass::new(&BP256, 32).generator(),
            Self::BrainpoolP384r1 => Weierstrass::new(&BP384, 48).generator(),
        }
    }

    /// A uniformly random scalar in [1, n-1], drawn as `field_len` bytes
    /// and retried until in range (so a fixed byte source fixes the key).
    pub fn random_scalar<R: RngCore + ?Sized>(self, rng: &mut R) -> Zeroizing<Vec<u8>> {
        let order = self.order();
        loop {
            let mut k = Zeroizing::new(vec![0u8; self.field_len()]);
            rng.fill_bytes(&mut k);
            if let Some(value) = uint_from_bytes(&k)
                && value < order
                && value != U384::ZERO
            {
                return k;
            }
        }
    }

    /// Whether `point` is an uncompressed point on this curve (not infinity).
    pub fn is_valid_point(self, point: &[u8]) -> bool {
        self.add_or_mul(None, point, Some(&[1])).is_ok()
    }

    /// scalar · point.
    pub fn mul(self, scalar: &[u8], point: &[u8]) -> Result<Vec<u8>, EcError> {
        self.add_or_mul(None, point, Some(scalar))
    }

    /// a + b.
    pub fn add(self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, EcError> {
        self.add_or_mul(Some(a), b, None)
    }

    /// The x-coordinate of a point: the shared secret of ECDH.
    pub fn x_coordinate(self, point: &[u8]) -> Result<Vec<u8>, EcError> {
        point
            .get(1..1 + self.field_len())
            .map(<[u8]>::to_vec)
            .ok_or(EcError::InvalidPoint)
    }

    fn add_or_mul(
        self,
        a: Option<&[u8]>,
        b: &[u8],
        scalar: Option<&[u8]>,
    ) -> Result<Vec<u8>, EcError> {
        if scalar.is_some_and(|k| k.len() > self.field_len()) {
            return Err(EcError::ScalarTooLong);
        }
        macro_rules! nist {
            ($c:ident, $uint:ty) => {{
                let decode = |bytes: &[u8]| -> Result<$c::ProjectivePoint, EcError> {
                    if bytes.len() != 1 + 2 * self.field_len() || bytes.first() != Some(&4) {
                        return Err(EcError::InvalidPoint);
                    }
                    let encoded =
                        $c::EncodedPoint::from_bytes(bytes).map_err(|_| EcError::InvalidPoint)?;
                    Option::<$c::AffinePoint>::from($c::AffinePoint::from_encoded_point(&encoded))
                        .map($c::ProjectivePoint::from)
                        .ok_or(EcError::InvalidPoint)
                };
                let mut result = decode(b)?;
                if let Some(a) = a {
                    result += decode(a)?;
                }
                if let Some(k) = scalar {
                    let mut repr = $c::FieldBytes::default();
                    let start = repr.len().saturating_sub(k.len());
                    if let Some(dst) = repr.get_mut(start..) {
                        dst.copy_from_slice(k.get(..dst.len()).unwrap_or_default());
                    }
                    let k = <$c::Scalar as Reduce<$uint>>::reduce_bytes(&repr);
                    result *= k;
                }
                let affine = result.to_affine();
                let encoded = affine.to_encoded_point(false);
                if encoded.is_identity() {
                    return Err(EcError::Identity);
                }
                Ok(encoded.as_bytes().to_vec())
            }};
        }
        match self {
            Self::NistP256 => nist!(p256, elliptic_curve::bigint::U256),
            Self::NistP384 => nist!(p384, elliptic_curve::bigint::U384),
            Self::BrainpoolP256r1 => Weierstrass::new(&BP256, 32).add_or_mul(a, b, scalar),
            Self::BrainpoolP384r1 => Weierstrass::new(&BP384, 48).add_or_mul(a, b, scalar),
        }
    }
}

/// Field primes of the NIST curves, to recognise explicit domain parameters.
const P256_PRIME: &str = "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF";
const P384_PRIME: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF";

/// Big-endian bytes with leading zeros removed (how DER INTEGERs are compared).
fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default()
}

impl Curve {
    /// The named-curve OID (RFC 5480, RFC 5639) as DER contents.
    pub fn oid(self) -> der::oid::ObjectIdentifier {
        use der::oid::ObjectIdentifier as Oid;
        match self {
            Self::NistP256 => Oid::new_unwrap("1.2.840.10045.3.1.7"),
            Self::NistP384 => Oid::new_unwrap("1.3.132.0.34"),
            Self::BrainpoolP256r1 => Oid::new_unwrap("1.3.36.3.3.2.8.1.1.7"),
            Self::BrainpoolP384r1 => Oid::new_unwrap("1.3.36.3.3.2.8.1.1.11"),
        }
    }

    pub fn from_oid(oid: &[u8]) -> Option<Self> {
        Self::all().into_iter().find(|c| c.oid().as_bytes() == oid)
    }

    /// Every supported curve.
    pub fn all() -> [Self; 4] {
        [
            Self::NistP256,
            Self::BrainpoolP256r1,
            Self::NistP384,
            Self::BrainpoolP384r1,
        ]
    }

    /// The curve whose field prime is `prime` (explicit ECParameters).
    pub fn from_prime(prime: &[u8]) -> Option<Self> {
        Self::all().into_iter().find(|c| {
            let p = match c {
                Self::NistP256 => uint(P256_PRIME),
                Self::NistP384 => uint(P384_PRIME),
                Self::BrainpoolP256r1 => uint(BP256[0]),
                Self::BrainpoolP384r1 => uint(BP384[0]),
            };
            trim_zeros(&p.to_be_bytes()) == trim_zeros(prime)
        })
    }

    /// The name used in reports and files, e.g. `brainpoolP256r1`.
    pub fn name(self) -> &'static str {
        match self {
            Self::NistP256 => "P-256",
            Self::NistP384 => "P-384",
            Self::BrainpoolP256r1 => "brainpoolP256r1",
            Self::BrainpoolP384r1 => "brainpoolP384r1",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::all()
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// The public point of a private scalar.
    pub fn public_key(self, private: &[u8]) -> Result<Vec<u8>, EcError> {
        self.mul(private, &self.generator())
    }

    fn order_params(self) -> DynResidueParams<6> {
        DynResidueParams::new(&self.order())
    }

    /// `bytes` as an integer mod n (`None` if longer than 48 bytes).
    fn mod_order(self, bytes: &[u8]) -> Option<DynResidue<6>> {
        Some(DynResidue::new(
            &uint_from_bytes(bytes)?,
            self.order_params(),
        ))
    }

    /// The scalar of a hash: its leftmost bits, as many as the order has
    /// (every supported order fills its field length exactly).
    fn hash_scalar(self, hash: &[u8]) -> Option<DynResidue<6>> {
        self.mod_order(hash.get(..hash.len().min(self.field_len()))?)
    }

    fn scalar_bytes(self, v: &DynResidue<6>) -> Vec<u8> {
        let bytes = v.retrieve().to_be_bytes();
        bytes
            .get(48 - self.field_len()..)
            .unwrap_or_default()
            .to_vec()
    }

    /// ECDSA over a precomputed hash; the signature is plain `r || s`
    /// (BSI TR-03111), each `field_len` bytes.
    pub fn ecdsa_sign<R: RngCore + ?Sized>(
        self,
        private: &[u8],
        hash: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, EcError> {
        let e = self.hash_scalar(hash).ok_or(EcError::ScalarTooLong)?;
        let d = Zeroizing::new(self.mod_order(private).ok_or(EcError::ScalarTooLong)?);
        let zero = DynResidue::zero(self.order_params());
        loop {
            let k = self.random_scalar(rng);
            let point = self.public_key(&k)?;
            let r = self
                .mod_order(&self.x_coordinate(&point)?)
                .ok_or(EcError::InvalidPoint)?;
            let k = Zeroizing::new(self.mod_order(&k).ok_or(EcError::ScalarTooLong)?);
            let (k_inv, invertible) = k.invert();
            let k_inv = Zeroizing::new(k_inv);
            let s = k_inv.mul(&e.add(&r.mul(&d)));
            if bool::from(invertible) && r != zero && s != zero {
                let mut out = self.scalar_bytes(&r);
                out.extend(self.scalar_bytes(&s));
                return Ok(out);
            }
        }
    }

    /// Verifies a plain `r || s` ECDSA signature over a precomputed hash.
    pub fn ecdsa_verify(self, public: &[u8], hash: &[u8], signature: &[u8]) -> bool {
        let n = self.field_len();
        if signature.len() != 2 * n || !self.is_valid_point(public) {
            return false;
        }
        let (r_bytes, s_bytes) = signature.split_at(n);
        let order = self.order();
        let in_range = |b: &[u8]| uint_from_bytes(b).is_some_and(|v| v != U384::ZERO && v < order);
        if !in_range(r_bytes) || !in_range(s_bytes) {
            return false;
        }
        let (Some(e), Some(r), Some(s)) = (
            self.hash_scalar(hash),
            self.mod_order(r_bytes),
            self.mod_order(s_bytes),
        ) else {
            return false;
        };
        let (w, invertible) = s.invert();
        if !bool::from(invertible) {
            return false;
        }
        let u1 = self.scalar_bytes(&e.mul(&w));
        let u2 = self.scalar_bytes(&r.mul(&w));
        // u1 = 0 only for a hash ≡ 0 mod n; such a signature is refused.
        let sum = self
            .public_key(&u1)
            .and_then(|a| self.mul(&u2, public).and_then(|b| self.add(&a, &b)));
        match sum.and_then(|p| self.x_coordinate(&p)) {
            Ok(x) => self.mod_order(&x).is_some_and(|v| v == r),
            Err(_) => false,
        }
    }
}

/// A short-Weierstrass curve y² = x³ + ax + b over a prime field, in
/// Jacobian coordinates. The ladder runs the same operations for every
/// scalar bit and selects results in constant time.
struct Weierstrass {
    p: U384,
    params: DynResidueParams<6>,
    a: DynResidue<6>,
    b: DynResidue<6>,
    g: (U384, U384),
    len: usize,
}

#[derive(Clone, Copy)]
struct Jacobian {
    x: DynResidue<6>,
    y: DynResidue<6>,
    z: DynResidue<6>,
}

impl ConditionallySelectable for Jacobian {
    fn conditional_select(a: &Self, b: &Self, choice: Choice) -> Self {
        Self {
            x: DynResidue::conditional_select(&a.x, &b.x, choice),
            y: DynResidue::conditional_select(&a.y, &b.y, choice),
            z: DynResidue::conditional_select(&a.z, &b.z, choice),
        }
    }
}

impl Weierstrass {
    fn new(constants: &[&str; 6], len: usize) -> Self {
        let [p, a, b, gx, gy, _] = constants.map(uint);
        let params = DynResidueParams::new(&p);
        Self {
            p,
            params,
            a: DynResidue::new(&a, params),
            b: DynResidue::new(&b, params),
            g: (gx, gy),
            len,
        }
    }

    fn element(&self, v: &U384) -> DynResidue<6> {
        DynResidue::new(v, self.params)
    }

    fn generator(&self) -> Vec<u8> {
        self.encode_affine(&self.g.0, &self.g.1)
    }

    fn encode_affine(&self, x: &U384, y: &U384) -> Vec<u8> {
        let skip = 48 - self.len;
        let mut out = Vec::with_capacity(1 + 2 * self.len);
        out.push(4);
        out.extend_from_slice(x.to_be_bytes().get(skip..).unwrap_or_default());
        out.extend_from_slice(y.to_be_bytes().get(skip..).unwrap_or_default());
        out
    }

    fn decode(&self, bytes: &[u8]) -> Result<Jacobian, EcError> {
        if bytes.len() != 1 + 2 * self.len || bytes.first() != Some(&4) {
            return Err(EcError::InvalidPoint);
        }
        let x = bytes
            .get(1..1 + self.len)
            .and_then(uint_from_bytes)
            .ok_or(EcError::InvalidPoint)?;
        let y = bytes
            .get(1 + self.len..)
            .and_then(uint_from_bytes)
            .ok_or(EcError::InvalidPoint)?;
        if x >= self.p || y >= self.p {
            return Err(EcError::InvalidPoint);
        }
        let (x, y) = (self.element(&x), self.element(&y));
        let rhs = x.square().mul(&x).add(&self.a.mul(&x)).add(&self.b);
        if !bool::from(y.square().ct_eq(&rhs)) {
            return Err(EcError::InvalidPoint);
        }
        Ok(Jacobian {
            x,
            y,
            z: DynResidue::one(self.params),
        })
    }

    fn identity(&self) -> Jacobian {
        let one = DynResidue::one(self.params);
        Jacobian {
            x: one,
            y: one,
            z: DynResidue::zero(self.params),
        }
    }

    fn is_zero(&self, v: &DynResidue<6>) -> Choice {
        v.ct_eq(&DynResidue::zero(self.params))
    }

    /// dbl-2007-bl (any a); infinity stays infinity because Z3 = 2·Y1·Z1.
    fn double(&self, p: &Jacobian) -> Jacobian {
        let xx = p.x.square();
        let yy = p.y.square();
        let yyyy = yy.square();
        let zz = p.z.square();
        let s = p.x.add(&yy).square().sub(&xx).sub(&yyyy);
        let s = s.add(&s);
        let m = xx.add(&xx).add(&xx).add(&self.a.mul(&zz.square()));
        let t = m.square().sub(&s).sub(&s);
        let eight_yyyy = {
            let two = yyyy.add(&yyyy);
            let four = two.add(&two);
            four.add(&four)
        };
        Jacobian {
            x: t,
            y: m.mul(&s.sub(&t)).sub(&eight_yyyy),
            z: p.y.add(&p.z).square().sub(&yy).sub(&zz),
        }
    }

    /// add-2007-bl, with the exceptional cases (either input infinity, equal
    /// inputs) resolved by constant-time selection.
    fn add(&self, p: &Jacobian, q: &Jacobian) -> Jacobian {
        let z1z1 = p.z.square();
        let z2z2 = q.z.square();
        let u1 = p.x.mul(&z2z2);
        let u2 = q.x.mul(&z1z1);
        let s1 = p.y.mul(&q.z).mul(&z2z2);
        let s2 = q.y.mul(&p.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let i = h.add(&h).square();
        let j = h.mul(&i);
        let r = s2.sub(&s1);
        let r = r.add(&r);
        let v = u1.mul(&i);
        let x3 = r.square().sub(&j).sub(&v).sub(&v);
        let s1j = s1.mul(&j);
        let y3 = r.mul(&v.sub(&x3)).sub(&s1j).sub(&s1j);
        let z3 = p.z.add(&q.z).square().sub(&z1z1).sub(&z2z2).mul(&h);
        let mut out = Jacobian {
            x: x3,
            y: y3,
            z: z3,
        };
        let same = self.is_zero(&h) & self.is_zero(&r);
        out = Jacobian::conditional_select(&out, &self.double(p), same);
        out = Jacobian::conditional_select(&out, q, self.is_zero(&p.z));
        out = Jacobian::conditional_select(&out, p, self.is_zero(&q.z));
        out
    }

    fn mul(&self, scalar: &[u8], p: &Jacobian) -> Jacobian {
        let mut acc = self.identity();
        for byte in scalar {
            for bit in (0..8).rev() {
                acc = self.double(&acc);
                let sum = self.add(&acc, p);
                acc = Jacobian::conditional_select(&acc, &sum, Choice::from((byte >> bit) & 1));
            }
        }
        acc
    }

    fn to_bytes(&self, p: &Jacobian) -> Result<Vec<u8>, EcError> {
        let (z_inv, invertible) = p.z.invert();
        if !bool::from(invertible) {
            return Err(EcError::Identity);
        }
        let z2 = z_inv.square();
        let x = p.x.mul(&z2).retrieve();
        let y = p.y.mul(&z2).mul(&z_inv).retrieve();
        Ok(self.encode_affine(&x, &y))
    }

    fn add_or_mul(
        &self,
        a: Option<&[u8]>,
        b: &[u8],
        scalar: Option<&[u8]>,
    ) -> Result<Vec<u8>, EcError> {
        let mut result = self.decode(b)?;
        if let Some(a) = a {
            result = self.add(&self.decode(a)?, &result);
        }
        if let Some(k) = scalar {
            result = self.mul(k, &result);
        }
        self.to_bytes(&result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Curve; 4] = [
        Curve::NistP256,
        Curve::BrainpoolP256r1,
        Curve::NistP384,
        Curve::BrainpoolP384r1,
    ];

    #[test]
    fn generator_has_the_curve_order() {
        for curve in ALL {
            let g = curve.generator();
            assert!(curve.is_valid_point(&g), "{curve:?}");
            let n = curve.order().to_be_bytes();
            let n = &n[48 - curve.field_len()..];
            assert_eq!(curve.mul(n, &g), Err(EcError::Identity), "{curve:?}");
            // (n-1)·G = -G: same x, other y
            let mut n1 = n.to_vec();
            *n1.last_mut().unwrap() -= 1;
            let neg = curve.mul(&n1, &g).unwrap();
            assert_eq!(neg[..1 + curve.field_len()], g[..1 + curve.field_len()]);
            assert_ne!(neg, g);
        }
    }

    #[test]
    fn arithmetic_is_consistent() {
        for curve in ALL {
            let g = curve.generator();
            let two_g = curve.mul(&[2], &g).unwrap();
            assert_eq!(curve.add(&g, &g).unwrap(), two_g);
            let three_g = curve.add(&two_g, &g).unwrap();
            assert_eq!(curve.mul(&[3], &g).unwrap(), three_g);
            // (a·b)·G = a·(b·G)
            let a = curve
                .mul(&[0x12, 0x34], &curve.mul(&[0x56, 0x78], &g).unwrap())
                .unwrap();
            let ab = 0x1234u32 * 0x5678;
            assert_eq!(curve.mul(&ab.to_be_bytes(), &g).unwrap(), a);
            assert_eq!(curve.mul(&[0], &g), Err(EcError::Identity));
            let mut off = g.clone();
            *off.last_mut().unwrap() ^= 1;
            assert_eq!(curve.mul(&[1], &off), Err(EcError::InvalidPoint));
            assert_eq!(curve.mul(&[1], &g[..10]), Err(EcError::InvalidPoint));
        }
    }

    #[test]
    fn generic_arithmetic_matches_p256_crate() {
        // The brainpool code path, fed P-256's constants, must agree with p256.
        let w = Weierstrass::new(
            &[
                "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
                "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC",
                "5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
                "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296",
                "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
                P256_ORDER,
            ],
            32,
        );
        let g = Curve::NistP256.generator();
        assert_eq!(w.generator(), g);
        let k = [0xA5u8; 32];
        assert_eq!(
            w.add_or_mul(None, &g, Some(&k)).unwrap(),
            Curve::NistP256.mul(&k, &g).unwrap()
        );
    }

    #[test]
    fn ecdsa_agrees_with_the_p256_crate_and_rejects_forgeries() {
        use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
        let mut rng = rand_core::OsRng;
        let hash = [0x5Cu8; 32];
        let d = Curve::NistP256.random_scalar(&mut rng);
        let public = Curve::NistP256.public_key(&d).unwrap();
        let ours = Curve::NistP256.ecdsa_sign(&d, &hash, &mut rng).unwrap();
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&ours).unwrap();
        vk.verify_prehash(&hash, &sig).unwrap();
        let sk = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
        let theirs: p256::ecdsa::Signature = sk.sign_prehash(&hash).unwrap();
        assert!(Curve::NistP256.ecdsa_verify(&public, &hash, &theirs.to_bytes()));
        for curve in ALL {
            let d = curve.random_scalar(&mut rng);
            let public = curve.public_key(&d).unwrap();
            let hash = [0xA7u8; 64];
            let mut sig = curve.ecdsa_sign(&d, &hash, &mut rng).unwrap();
            assert_eq!(sig.len(), 2 * curve.field_len());
            assert!(curve.ecdsa_verify(&public, &hash, &sig), "{curve:?}");
            assert!(!curve.ecdsa_verify(&public, &[0xA6u8; 64], &sig));
            sig[3] ^= 1;
            assert!(!curve.ecdsa_verify(&public, &hash, &sig));
            assert!(!curve.ecdsa_verify(&public, &hash, &sig[1..]));
            assert_eq!(Curve::from_oid(curve.oid().as_bytes()), Some(curve));
            assert_eq!(Curve::from_name(curve.name()), Some(curve));
        }
    }

    #[test]
    fn brainpool_p384_matches_an_independent_implementation() {
        let k = [0x5Au8; 48];
        let expected = "040b6e96518d31e6cc0b5396fdc2d46ce082e9feef8e1ace1d42ed154cc89d235dafc1b5f44360ab94d7e93cdccd45bad21897f5862ac9d21305ce0f51d9366dcff1d89e28cf0e5c0bd4ed48395f5496e4f8dc34117a7e9a3ec6089dedc16b63ed";
        let curve = Curve::BrainpoolP384r1;
        assert_eq!(
            hex::encode(curve.mul(&k, &curve.generator()).unwrap()),
            expected
        );
    }
}
