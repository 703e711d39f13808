//! The chip's side of PACE: a state machine driven by MSE:Set AT and the
//! GENERAL AUTHENTICATE commands.

use super::{
    PaceError, PaceInfo, PaceProtocol, SessionKeys, auth_data, auth_value, map_generator,
    password_key, secure_messaging, session_keys, token,
};
use crate::access::{AccessKey, PasswordKind};
use crate::ec::Curve;
use crate::sm::SecureMessaging;
use crate::tlv;
use rand_core::RngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// What a PACE command did, for the chip to turn into a response.
#[derive(Debug)]
pub enum PaceStep {
    /// Answer with this data and 9000.
    Continue(Vec<u8>),
    /// The terminal proved the password: answer and switch to SM.
    Established(Vec<u8>, SecureMessaging),
}

/// Why the chip refuses a PACE command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceRefusal {
    /// Out of order (6985).
    Sequence,
    /// Malformed or unsupported data (6A80).
    WrongData,
    /// The protocol or password is not offered (6A88 "reference data not found").
    NotOffered,
    /// The token was wrong: a failed authentication attempt (6300).
    AuthenticationFailed,
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    Selected {
        info: PaceInfo,
        password: PasswordKind,
    },
    Nonce {
        info: PaceInfo,
        nonce: Zeroizing<Vec<u8>>,
    },
    Mapped {
        info: PaceInfo,
        generator: Vec<u8>,
    },
    Agreed {
        protocol: PaceProtocol,
        keys: SessionKeys,
        chip_public: Vec<u8>,
        terminal_public: Vec<u8>,
    },
}

/// PACE as the chip runs it, for the PACEInfos it advertises.
pub struct PaceChip {
    infos: Vec<PaceInfo>,
    state: State,
}

impl std::fmt::Debug for PaceChip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaceChip")
            .field("infos", &self.infos)
            .finish_non_exhaustive()
    }
}

impl PaceChip {
    pub fn new(infos: Vec<PaceInfo>) -> Self {
        Self {
            infos,
            state: State::Idle,
        }
    }

    pub fn reset(&mut self) {
        self.state = State::Idle;
    }

    /// MSE:Set AT: which protocol and which password.
    pub fn set_authentication_template(&mut self, data: &[u8]) -> Result<(), PaceRefusal> {
        self.state = State::Idle;
        let mut oid = None;
        let mut password = None;
        let mut parameter = None;
        for obj in tlv::Objects::new(data) {
            let obj = obj.map_err(|_| PaceRefusal::WrongData)?;
            match obj.tag {
                0x80 => oid = Some(obj.value),
                0x83 => password = Some(obj.value),
                0x84 => parameter = Some(obj.value),
                _ => {}
            }
        }
        let protocol = oid
            .and_then(PaceProtocol::from_oid)
            .ok_or(PaceRefusal::NotOffered)?;
        let password = match password {
            Some([1]) => PasswordKind::Mrz,
            Some([2]) => PasswordKind::Can,
            _ => return Err(PaceRefusal::NotOffered),
        };
        let curve = match parameter {
            Some([id]) => {
                Some(Curve::from_parameter_id(u32::from(*id)).ok_or(PaceRefusal::NotOffered)?)
            }
            Some(_) => return Err(PaceRefusal::WrongData),
            None => None,
        };
        let info = self
            .infos
            .iter()
            .find(|i| i.protocol == protocol && curve.is_none_or(|c| c == i.curve))
            .copied()
            .ok_or(PaceRefusal::NotOffered)?;
        self.state = State::Selected { info, password };
        Ok(())
    }

    /// The password the terminal selected, once MSE:Set AT succeeded.
    pub fn selected_password(&self) -> Option<PasswordKind> {
        match &self.state {
            State::Selected { password, .. } => Some(*password),
            _ => None,
        }
    }

    /// One GENERAL AUTHENTICATE step. `key` is the chip's secret for the
    /// password kind the terminal chose.
    pub fn general_authenticate<R: RngCore + ?Sized>(
        &mut self,
        data: &[u8],
        key: Option<&AccessKey>,
        rng: &mut R,
    ) -> Result<PaceStep, PaceRefusal> {
        let state = std::mem::take(&mut self.state);
        let result = self.step(state, data, key, rng);
        if result.is_err() {
            self.state = State::Idle;
        }
        result
    }

    fn step<R: RngCore + ?Sized>(
        &mut self,
        state: State,
        data: &[u8],
        key: Option<&AccessKey>,
        rng: &mut R,
    ) -> Result<PaceStep, PaceRefusal> {
        let wrong = |_: PaceError| PaceRefusal::WrongData;
        match state {
            State::Idle => Err(PaceRefusal::Sequence),
            State::Selected { info, .. } => {
                let key = key.ok_or(PaceRefusal::NotOffered)?;
                tlv::expect(data, 0x7C).map_err(|_| PaceRefusal::WrongData)?;
                let cipher = info.protocol.cipher;
                let mut nonce = Zeroizing::new(vec![0u8; cipher.block_size()]);
                rng.fill_bytes(&mut nonce);
                let z = cipher
                    .encrypt_cbc(&password_key(cipher, key), &[], &nonce)
                    .map_err(|_| PaceRefusal::WrongData)?;
                self.state = State::Nonce { info, nonce };
                Ok(PaceStep::Continue(auth_data(0x80, &z)))
            }
            State::Nonce { info, nonce } => {
                let curve = info.curve;
                let terminal_public = auth_value(data, 0x81).map_err(wrong)?;
                let map_key = curve.random_scalar(rng);
                let h = Zeroizing::new(
                    curve
                        .mul(&map_key, terminal_public)
                        .map_err(|_| PaceRefusal::WrongData)?,
                );
                let chip_public = curve
                    .mul(&map_key, &curve.generator())
                    .map_err(|_| PaceRefusal::WrongData)?;
                let generator = map_generator(curve, &nonce, &h).map_err(wrong)?;
                self.state = State::Mapped { info, generator };
                Ok(PaceStep::Continue(auth_data(0x82, &chip_public)))
            }
            State::Mapped { info, generator } => {
                let curve = info.curve;
                let terminal_public = auth_value(data, 0x83).map_err(wrong)?.to_vec();
                let eph_key = curve.random_scalar(rng);
                let chip_public = curve
                    .mul(&eph_key, &generator)
                    .map_err(|_| PaceRefusal::WrongData)?;
                if chip_public == terminal_public {
                    return Err(PaceRefusal::WrongData);
                }
                let point = curve
                    .mul(&eph_key, &terminal_public)
                    .map_err(|_| PaceRefusal::WrongData)?;
                let shared = Zeroizing::new(
                    curve
                        .x_coordinate(&point)
                        .map_err(|_| PaceRefusal::WrongData)?,
                );
                let keys = session_keys(info.protocol.cipher, &shared);
                self.state = State::Agreed {
                    protocol: info.protocol,
                    keys,
                    chip_public: chip_public.clone(),
                    terminal_public,
                };
                Ok(PaceStep::Continue(auth_data(0x84, &chip_public)))
            }
            State::Agreed {
                protocol,
                keys,
                chip_public,
                terminal_public,
            } => {
                let t_ifd = auth_value(data, 0x85).map_err(wrong)?;
                let expected = token(protocol, &keys.k_mac, &chip_public).map_err(wrong)?;
                if !bool::from(expected.ct_eq(t_ifd)) {
                    return Err(PaceRefusal::AuthenticationFailed);
                }
                let t_ic = token(protocol, &keys.k_mac, &terminal_public).map_err(wrong)?;
                Ok(PaceStep::Established(
                    auth_data(0x86, &t_ic),
                    secure_messaging(protocol.cipher, keys),
                ))
            }
        }
    }
}
