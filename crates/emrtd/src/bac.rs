//! Basic Access Control (ICAO 9303-11 §4.3): mutual authentication with
//! keys from the MRZ, ending in a 3DES secure messaging session.

use crate::crypto::{CipherAlgorithm, KeyPurpose};
use crate::error::Error;
use crate::sm::SecureMessaging;
use card::{CardChannel, CommandApdu};
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Length of the EXTERNAL AUTHENTICATE cryptogram and MAC.
pub(crate) const CRYPTOGRAM_LEN: usize = 40;

/// K_Enc and K_MAC of the document basic access keys.
pub struct BacKeys {
    k_enc: Zeroizing<Vec<u8>>,
    k_mac: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for BacKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BacKeys(..)")
    }
}

impl BacKeys {
    pub fn from_seed(seed: &[u8]) -> Self {
        Self {
            k_enc: CipherAlgorithm::Tdes.derive_key(seed, KeyPurpose::Encryption),
            k_mac: CipherAlgorithm::Tdes.derive_key(seed, KeyPurpose::Mac),
        }
    }

    pub fn k_enc(&self) -> &[u8] {
        &self.k_enc
    }

    pub fn k_mac(&self) -> &[u8] {
        &self.k_mac
    }

    /// E || MAC(E) with E = 3DES-CBC(K_Enc, plain): the form of both
    /// EXTERNAL AUTHENTICATE data fields.
    pub(crate) fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, Error> {
        let alg = CipherAlgorithm::Tdes;
        let mut out = alg.encrypt_cbc(&self.k_enc, &[0; 8], plain)?;
        let mac = alg.mac(&self.k_mac, &out)?;
        out.extend_from_slice(&mac);
        Ok(out)
    }

    /// Checks the MAC and decrypts; `None` if the MAC is wrong or the length
    /// is not that of a BAC cryptogram.
    pub(crate) fn open(&self, sealed: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        if sealed.len() != CRYPTOGRAM_LEN {
            return Ok(None);
        }
        let (cryptogram, mac) = sealed.split_at(32);
        let alg = CipherAlgorithm::Tdes;
        let expected = alg.mac(&self.k_mac, cryptogram)?;
        if !bool::from(expected.ct_eq(mac)) {
            return Ok(None);
        }
        Ok(Some(alg.decrypt_cbc(&self.k_enc, &[0; 8], cryptogram)?))
    }
}

/// The session both sides derive: K_seed = K.IFD xor K.IC, and the SSC
/// from the low halves of both challenges.
pub(crate) fn session(k_ifd: &[u8], k_ic: &[u8], rnd_ic: &[u8], rnd_ifd: &[u8]) -> SecureMessaging {
    let seed: Zeroizing<Vec<u8>> =
        Zeroizing::new(k_ifd.iter().zip(k_ic).map(|(a, b)| a ^ b).collect());
    let alg = CipherAlgorithm::Tdes;
    let ssc = [
        rnd_ic.get(4..8).unwrap_or_default(),
        rnd_ifd.get(4..8).unwrap_or_default(),
    ]
    .concat();
    SecureMessaging::new(
        alg,
        alg.derive_key(&seed, KeyPurpose::Encryption),
        alg.derive_key(&seed, KeyPurpose::Mac),
        &ssc,
    )
}

/// Terminal side: GET CHALLENGE, then EXTERNAL AUTHENTICATE; returns the
/// secure messaging session on success.
pub fn authenticate<C, R>(
    channel: &mut C,
    keys: &BacKeys,
    rng: &mut R,
) -> Result<SecureMessaging, Error>
where
    C: CardChannel + ?Sized,
    R: RngCore + CryptoRng,
{
    let challenge = channel.transmit(&CommandApdu::new(0x00, 0x84, 0x00, 0x00).with_le(8))?;
    if !challenge.sw.is_success() {
        return Err(Error::Status {
            command: "GET CHALLENGE",
            sw: challenge.sw,
        });
    }
    let rnd_ic: [u8; 8] =
        challenge
            .data
            .as_slice()
            .try_into()
            .map_err(|_| Error::MalformedResponse {
                command: "GET CHALLENGE",
            })?;
    let mut rnd_ifd = [0u8; 8];
    rng.fill_bytes(&mut rnd_ifd);
    let mut k_ifd = Zeroizing::new([0u8; 16]);
    rng.fill_bytes(k_ifd.as_mut_slice());
    let s = Zeroizing::new([rnd_ifd.as_slice(), &rnd_ic, k_ifd.as_slice()].concat());
    let command = CommandApdu::new(0x00, 0x82, 0x00, 0x00)
        .with_data(keys.seal(&s)?)
        .with_le(CRYPTOGRAM_LEN);
    let response = channel.transmit(&command)?;
    if !response.sw.is_success() {
        return Err(Error::Status {
            command: "EXTERNAL AUTHENTICATE",
            sw: response.sw,
        });
    }
    let r = keys.open(&response.data)?.ok_or(Error::BacMismatch)?;
    let (rnd_ic_echo, rest) = r.split_at(8);
    let (rnd_ifd_echo, k_ic) = rest.split_at(8);
    if rnd_ic_echo != rnd_ic || rnd_ifd_echo != rnd_ifd {
        return Err(Error::BacMismatch);
    }
    Ok(session(k_ifd.as_slice(), k_ic, &rnd_ic, &rnd_ifd))
}

/// Chip side of EXTERNAL AUTHENTICATE: checks the terminal's cryptogram
/// against the challenge it issued and answers with its own.
pub(crate) fn answer<R: RngCore + ?Sized>(
    keys: &BacKeys,
    rnd_ic: &[u8; 8],
    command_data: &[u8],
    rng: &mut R,
) -> Result<Option<(Vec<u8>, SecureMessaging)>, Error> {
    let Some(s) = keys.open(command_data)? else {
        return Ok(None);
    };
    let (rnd_ifd, rest) = s.split_at(8);
    let (rnd_ic_echo, k_ifd) = rest.split_at(8);
    if !bool::from(rnd_ic_echo.ct_eq(rnd_ic)) {
        return Ok(None);
    }
    let mut k_ic = Zeroizing::new([0u8; 16]);
    rng.fill_bytes(k_ic.as_mut_slice());
    let r = Zeroizing::new([rnd_ic.as_slice(), rnd_ifd, k_ic.as_slice()].concat());
    let sealed = keys.seal(&r)?;
    Ok(Some((
        sealed,
        session(k_ifd, k_ic.as_slice(), rnd_ic, rnd_ifd),
    )))
}
