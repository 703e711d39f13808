//! ICAO 9303 eMRTD protocol core: MRZ and access keys, BER-TLV, BAC, PACE
//! (ECDH generic mapping), secure messaging (3DES and AES), the terminal
//! that reads a chip, and a virtual chip that answers like one. The
//! document checks: Passive Authentication ([`passive`]: EF.SOD, DG hashes,
//! Document Signer, CSCA trust store with master lists and CRLs), Active
//! Authentication ([`aa`]) and
//! Chip Authentication ([`ca`]), each ending in a [`Verification`]. And
//! [`specimen`] documents: self-consistent virtual documents with a test PKI.
//!
//! Invariant: emrtd knows nothing of PC/SC; it moves bytes through a
//! [`card::CardChannel`] (terminal side, [`reader::Reader`]) or answers
//! them as a [`card::VirtualCard`] (chip side, [`chip::VirtualChip`]). It
//! does no I/O of its own, apart from [`chip::Profile::load_dir`] reading a
//! document's files from disk.
//!
//! Both sides share one implementation of every cryptographic step
//! ([`crypto`], [`sm`], [`bac`], [`pace`]), checked against the worked
//! examples of ICAO 9303-11 appendices D, F and G.1. Nothing that arrives from
//! outside the process (APDUs, TLV, MRZ text) can make this crate panic.
//!
//! Serving a document and reading it back, here through an in-memory
//! channel (the station puts the same [`VirtualChip`] behind pcscd's vpcd,
//! and reads real chips through the PC/SC channel of the `card` crate):
//!
//! ```
//! use emrtd::chip::Loopback;
//! use emrtd::{AccessKey, ChipConfig, LdsFile, Profile, ReadOptions, Reader, VirtualChip};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mrz = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n\
//!            L898902C36UTO7408122F1204159ZE184226B<<<<<10";
//! // Usually `Profile::load_dir(path)` on files named COM, DG1..DG16, SOD.
//! let profile = Profile::new()
//!     .with_file(LdsFile::Com, hex::decode("60145F0104303130365F36063034303030305C026175")?)
//!     .with_file(LdsFile::Dg(1), emrtd::lds::encode_dg1(mrz))
//!     .with_file(LdsFile::Dg(2), vec![0x75, 0x03, 0x7F, 0x61, 0x00]);
//! let chip = VirtualChip::new(ChipConfig::from_profile(profile)?); // BAC keys from DG1
//! let mut channel = Loopback(chip);
//!
//! let key = AccessKey::Mrz("L898902C3:740812:120415".parse()?);
//! let mut rng = emrtd::rand_core::OsRng;
//! let mut reader = Reader::open(&mut channel, &key, ReadOptions::default(), &mut rng)?;
//! let files = reader.read_document(&mut |p| eprintln!("{:?} {}/{}", p.file, p.read, p.total))?;
//! assert_eq!(reader.access().name(), "BAC");
//! assert_eq!(emrtd::lds::parse_dg1(&files[&LdsFile::Dg(1)])?.document_number, "L898902C3");
//! println!("{} APDUs, {} bytes", reader.counters().apdus, reader.counters().bytes_read);
//!
//! // Proving the chip genuine: this document has no DG14, DG15 or SOD.
//! let chip_checks = reader.verify_chip(&files, &mut rng)?;
//! assert_eq!(chip_checks.active.verdict, emrtd::Verdict::NotSupported);
//! let trust = emrtd::passive::TrustStore::new(); // usually TrustStore::load_dir
//! let passive = emrtd::passive::verify(&files, &trust, std::time::SystemTime::now());
//! assert_eq!(passive.verdict.as_str(), "not_supported");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod aa;
pub mod access;
pub mod bac;
pub mod ca;
pub mod chip;
pub mod crypto;
pub mod ec;
pub mod error;
pub mod keys;
pub mod lds;
pub mod mrz;
pub mod pace;
pub mod passive;
pub mod portrait;
pub mod reader;
pub mod security_info;
pub mod sm;
pub mod specimen;
pub mod tlv;
pub mod verification;

pub use access::{AccessKey, Can, MrzKey};
pub use chip::{ChipConfig, Profile, VirtualChip};
pub use error::Error;
pub use lds::LdsFile;
pub use mrz::{DocumentType, Mrz};
/// The RNG traits the terminal and chip take, re-exported so callers use the
/// same version.
pub use rand_core;
pub use reader::{
    AccessMethod, ChipVerification, ChunkFallback, ChunkReport, Counters, Progress, ReadOptions,
    Reader,
};
pub use verification::{Verdict, Verification};

#[cfg(test)]
mod testing;
#[cfg(test)]
mod worked_examples;
