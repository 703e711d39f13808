//! The terminal's side of PACE: MSE:Set AT and the four GENERAL
//! AUTHENTICATE steps.

use super::{
    PaceError, PaceInfo, auth_data, auth_value, map_generator, password_key, secure_messaging,
    session_keys, token,
};
use crate::access::AccessKey;
use crate::error::Error;
use crate::sm::SecureMessaging;
use crate::tlv;
use card::{CardChannel, CommandApdu, apdu::SHORT_LE_MAX};
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

fn general_authenticate<C: CardChannel + ?Sized>(
    channel: &mut C,
    last: bool,
    data: Vec<u8>,
    step: &'static str,
) -> Result<Vec<u8>, Error> {
    let cla = if last { 0x00 } else { 0x10 };
    let command = CommandApdu::new(cla, 0x86, 0x00, 0x00)
        .with_data(data)
        .with_le(SHORT_LE_MAX);
    let response = channel.transmit(&command)?;
    if !response.sw.is_success() {
        return Err(Error::Status {
            command: step,
            sw: response.sw,
        });
    }
    Ok(response.data)
}

/// Runs PACE with the chosen PACEInfo and returns the secure messaging
/// session it establishes.
pub fn establish<C, R>(
    channel: &mut C,
    info: PaceInfo,
    key: &AccessKey,
    rng: &mut R,
) -> Result<SecureMessaging, Error>
where
    C: CardChannel + ?Sized,
    R: RngCore + CryptoRng,
{
    let PaceInfo { protocol, curve } = info;
    let cipher = protocol.cipher;
    let set_at = [
        tlv::encode(0x80, &protocol.oid()),
        tlv::encode(0x83, &[key.password_kind() as u8]),
    ]
    .concat();
    let response = channel.transmit(&CommandApdu::new(0x00, 0x22, 0xC1, 0xA4).with_data(set_at))?;
    if !response.sw.is_success() {
        return Err(Error::Status {
            command: "MSE:Set AT",
            sw: response.sw,
        });
    }

    // 1. the chip's nonce, encrypted under the password key
    let data = general_authenticate(
        channel,
        false,
        vec![0x7C, 0x00],
        "GENERAL AUTHENTICATE (nonce)",
    )?;
    let z = auth_value(&data, 0x80)?;
    if z.len() != cipher.block_size() {
        return Err(PaceError::Malformed.into());
    }
    let k_pi = password_key(cipher, key);
    let nonce = cipher.decrypt_cbc(&k_pi, &[], z)?;

    // 2. generic mapping
    let map_key = curve.random_scalar(rng);
    let map_public = curve.mul(&map_key, &curve.generator())?;
    let data = general_authenticate(
        channel,
        false,
        auth_data(0x81, &map_public),
        "GENERAL AUTHENTICATE (mapping)",
    )?;
    let chip_map_public = auth_value(&data, 0x82)?;
    let h = Zeroizing::new(curve.mul(&map_key, chip_map_public)?);
    let generator = map_generator(curve, &nonce, &h)?;

    // 3. key agreement on the mapped generator
    let eph_key = curve.random_scalar(rng);
    let eph_public = curve.mul(&eph_key, &generator)?;
    let data = general_authenticate(
        channel,
        false,
        auth_data(0x83, &eph_public),
        "GENERAL AUTHENTICATE (key agreement)",
    )?;
    let chip_eph_public = auth_value(&data, 0x84)?.to_vec();
    if chip_eph_public == eph_public {
        return Err(PaceError::Malformed.into());
    }
    let shared = Zeroizing::new(curve.x_coordinate(&curve.mul(&eph_key, &chip_eph_public)?)?);
    let keys = session_keys(cipher, &shared);

    // 4. mutual authentication
    let t_ifd = token(protocol, &keys.k_mac, &chip_eph_public)?;
    let data = general_authenticate(
        channel,
        true,
        auth_data(0x85, &t_ifd),
        "GENERAL AUTHENTICATE (tokens)",
    )?;
    let t_ic = auth_value(&data, 0x86)?;
    let expected = token(protocol, &keys.k_mac, &eph_public)?;
    if !bool::from(expected.ct_eq(t_ic)) {
        return Err(PaceError::TokenMismatch.into());
    }
    Ok(secure_messaging(cipher, keys))
}
