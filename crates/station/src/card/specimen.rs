//! `station card specimen`: a virtual document for tests, demos and
//! training — LDS files, an EF.SOD signed under a freshly made test CSCA,
//! the chip's keys and `profile.toml` — ready for `station card simulate`.
//!
//! The CSCA and its CRL are also written alone into `trust/` under the
//! output folder, so `--trust-store DIR/trust` makes Passive Authentication
//! `valid` (or `invalid`, revoked, with `--revoke-document-signer`).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use emrtd::crypto::CipherAlgorithm;
use emrtd::ec::Curve;
use emrtd::keys::HashAlgorithm;
use emrtd::lds::AdditionalDocumentDetails;
use emrtd::portrait::{ImageFormat, Portrait};
use emrtd::specimen::{
    AaKeyKind, AccessOptions, MrzData, SodSignature, Specimen, SpecimenOptions, pace_info,
};
use emrtd::{Can, DocumentType, LdsFile};
use serde_json::json;

use crate::failure::{Code, Failure};

/// Chip portraits are small: ICAO 9303 suggests about 240 pixels wide.
pub const PORTRAIT_WIDTH: u32 = 240;
const PORTRAIT_QUALITY: u8 = 85;
/// The folder under the output that holds the CSCA alone.
pub const TRUST_DIR: &str = "trust";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocType {
    /// Passport booklet (two MRZ lines of 44).
    Td3,
    /// ID card (three MRZ lines of 30).
    Td1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessKind {
    /// Basic Access Control only.
    Bac,
    /// PACE (with the MRZ or the CAN), and BAC for older readers.
    Pace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AaKind {
    Rsa,
    Ecdsa,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureKind {
    RsaPss,
    Ecdsa,
}

#[derive(Debug, Clone, Args)]
pub struct SpecimenArgs {
    /// The folder to write (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "td3")]
    pub doc_type: DocType,
    /// Document number, up to 9 characters.
    #[arg(long, default_value = "L898902C3")]
    pub number: String,
    #[arg(long, default_value = "SPECIMEN")]
    pub surname: String,
    #[arg(long, default_value = "DEMO")]
    pub given_names: String,
    /// The full name in national script, stored in DG11.
    #[arg(long)]
    pub national_name: Option<String>,
    /// Issuing state and nationality (three letters; UTO is ICAO's Utopia).
    #[arg(long, default_value = "UTO")]
    pub nationality: String,
    #[arg(long, default_value = "740812")]
    pub birth: String,
    #[arg(long, default_value = "341231")]
    pub expiry: String,
    /// M, F or X.
    #[arg(long, default_value = "F")]
    pub sex: String,
    /// JPEG kept as is (JPEG 2000 too); other images are scaled to about
    /// 240 pixels wide and stored as JPEG. Default: a generated placeholder.
    #[arg(long)]
    pub portrait: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "pace")]
    pub access: AccessKind,
    /// PACE domain parameters: P-256, brainpoolP256r1, P-384, brainpoolP384r1.
    #[arg(long, default_value = "brainpoolP256r1")]
    pub pace_curve: String,
    /// Cipher of PACE and Chip Authentication: 3DES, AES-128, AES-192, AES-256.
    #[arg(long, default_value = "AES-128")]
    pub cipher: String,
    /// Card access number (PACE documents).
    #[arg(long, default_value = "123456")]
    pub can: String,
    #[arg(long, value_enum, default_value = "rsa")]
    pub aa: AaKind,
    /// Chip Authentication curve, or `none`.
    #[arg(long, default_value = "brainpoolP256r1")]
    pub ca: String,
    #[arg(long, value_enum, default_value = "ecdsa")]
    pub signature: SignatureKind,
    /// DG12: the authority that issued the document.
    #[arg(long)]
    pub issuing_authority: Option<String>,
    /// DG12: the date of issue, YYYYMMDD.
    #[arg(long)]
    pub date_of_issue: Option<String>,
    /// List the Document Signer on the CSCA's CRL.
    #[arg(long)]
    pub revoke_document_signer: bool,
}

fn invalid(detail: impl std::fmt::Display) -> Failure {
    Failure::new(Code::InvalidArgument, detail)
}

fn curve(option: &str, name: &str) -> Result<Curve, Failure> {
    Curve::from_name(name).ok_or_else(|| {
        invalid(format!(
            "{option} {name}: expected one of P-256, brainpoolP256r1, P-384, brainpoolP384r1"
        ))
    })
}

fn cipher(name: &str) -> Result<CipherAlgorithm, Failure> {
    emrtd::chip::cipher_from_name(name).ok_or_else(|| {
        invalid(format!(
            "--cipher {name}: expected 3DES, AES-128, AES-192 or AES-256"
        ))
    })
}

/// The specimen's options from the command line.
pub fn options(args: &SpecimenArgs) -> Result<SpecimenOptions, Failure> {
    let sex = match args.sex.to_ascii_uppercase().as_str() {
        "M" => 'M',
        "F" => 'F',
        "X" | "<" => '<',
        other => return Err(invalid(format!("--sex {other}: expected M, F or X"))),
    };
    let cipher = cipher(&args.cipher)?;
    let access = match args.access {
        AccessKind::Bac => AccessOptions::default(),
        AccessKind::Pace => AccessOptions {
            bac: true,
            pace: Some(pace_info(curve("--pace-curve", &args.pace_curve)?, cipher)),
            can: Some(Can::new(&args.can).map_err(|e| invalid(format!("--can: {e}")))?),
        },
    };
    let chip_authentication = if args.ca.eq_ignore_ascii_case("none") {
        None
    } else {
        Some((curve("--ca", &args.ca)?, cipher))
    };
    if let Some(date) = &args.date_of_issue
        && !(date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(format!(
            "--date-of-issue {date}: expected YYYYMMDD"
        )));
    }
    let additional_details = (args.issuing_authority.is_some() || args.date_of_issue.is_some())
        .then(|| AdditionalDocumentDetails {
            issuing_authority: args.issuing_authority.clone(),
            date_of_issue: args.date_of_issue.clone(),
            ..AdditionalDocumentDetails::default()
        });
    Ok(SpecimenOptions {
        mrz: MrzData {
            document_type: match args.doc_type {
                DocType::Td3 => DocumentType::Td3,
                DocType::Td1 => DocumentType::Td1,
            },
            issuing_state: args.nationality.clone(),
            surname: args.surname.clone(),
            given_names: args.given_names.clone(),
            document_number: args.number.clone(),
            nationality: args.nationality.clone(),
            date_of_birth: args.birth.clone(),
            sex,
            date_of_expiry: args.expiry.clone(),
            optional_data: String::new(),
        },
        portrait: portrait(args.portrait.as_deref())?,
        national_name: args.national_name.clone(),
        additional_details,
        access,
        active_authentication: match args.aa {
            AaKind::Rsa => Some(AaKeyKind::Rsa2048),
            AaKind::Ecdsa => Some(AaKeyKind::EcdsaP256),
            AaKind::None => None,
        },
        chip_authentication,
        signature: match args.signature {
            SignatureKind::RsaPss => SodSignature::RsaPss,
            SignatureKind::Ecdsa => SodSignature::EcdsaP256,
        },
        lds_hash: HashAlgorithm::Sha256,
        revoked_document_signer: args.revoke_document_signer,
    })
}

/// The chip portrait from an image file: JPEG and JPEG 2000 as they are,
/// anything else the `image` crate reads scaled down and re-encoded.
pub fn portrait(path: Option<&Path>) -> Result<Portrait, Failure> {
    let Some(path) = path else {
        return placeholder_portrait();
    };
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::new(Code::PortraitUnreadable, format!("{}: {e}", path.display())))?;
    if let Some(format) = Portrait::sniff(&bytes) {
        return Ok(Portrait::new(format, bytes));
    }
    let image = image::load_from_memory(&bytes)
        .map_err(|e| Failure::new(Code::PortraitUnreadable, format!("{}: {e}", path.display())))?;
    jpeg_portrait(&image)
}

/// A plain grey-gradient head-and-shoulders stand-in, for specimens made
/// without a photo.
fn placeholder_portrait() -> Result<Portrait, Failure> {
    let (w, h) = (PORTRAIT_WIDTH, PORTRAIT_WIDTH * 4 / 3);
    let image = image::RgbImage::from_fn(w, h, |x, y| {
        let (cx, cy) = (w as i64 / 2, h as i64 * 2 / 5);
        let (dx, dy) = (x as i64 - cx, y as i64 - cy);
        let head = dx * dx * 5 / 4 + dy * dy < (w as i64 / 4).pow(2) * 5 / 4;
        let shoulders = y > h * 3 / 4 && dx.unsigned_abs() < u64::from(w * 2 / 5);
        let shade = if head || shoulders {
            90
        } else {
            200 + (y * 40 / h) as u8
        };
        image::Rgb([shade, shade, shade])
    });
    jpeg_portrait(&image::DynamicImage::ImageRgb8(image))
}

fn jpeg_portrait(image: &image::DynamicImage) -> Result<Portrait, Failure> {
    let scaled = if image.width() > PORTRAIT_WIDTH {
        let height = (u64::from(image.height()) * u64::from(PORTRAIT_WIDTH)
            / u64::from(image.width()))
        .max(1) as u32;
        image.resize_exact(
            PORTRAIT_WIDTH,
            height,
            image::imageops::FilterType::Lanczos3,
        )
    } else {
        image.clone()
    };
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), PORTRAIT_QUALITY)
        .encode_image(&scaled.to_rgb8())
        .map_err(|e| Failure::new(Code::PortraitUnreadable, format!("JPEG encoding: {e}")))?;
    Ok(Portrait::new(ImageFormat::Jpeg, jpeg))
}

/// Builds and writes the specimen; the JSON names the folder, the access
/// keys and the files.
pub fn run(args: &SpecimenArgs) -> Result<serde_json::Value, Failure> {
    let options = options(args)?;
    let specimen =
        Specimen::build(&options, &mut emrtd::rand_core::OsRng).map_err(|e| match e {
            emrtd::specimen::SpecimenError::Field { .. }
            | emrtd::specimen::SpecimenError::Mrz(_) => invalid(e),
            other => Failure::new(Code::Internal, other),
        })?;
    let unwritable =
        |e: &dyn std::fmt::Display| Failure::new(Code::OutputUnwritable, e.to_string());
    specimen.write_dir(&args.out).map_err(|e| unwritable(&e))?;
    let trust = args.out.join(TRUST_DIR);
    std::fs::create_dir_all(&trust)
        .and_then(|()| std::fs::write(trust.join(emrtd::specimen::CSCA_FILE), &specimen.csca))
        .and_then(|()| std::fs::write(trust.join(emrtd::specimen::CRL_FILE), &specimen.crl))
        .map_err(|e| unwritable(&format!("{}: {e}", trust.display())))?;

    let mrz = &specimen.mrz;
    let files: Vec<serde_json::Value> = specimen
        .profile
        .files()
        .map(|(file, bytes)| json!({ "name": file.name(), "bytes": bytes.len() }))
        .collect();
    let portrait = specimen
        .profile
        .get(LdsFile::Dg(2))
        .and_then(|dg2| Portrait::parse_dg2(dg2).ok());
    let mut access = vec!["BAC"];
    access.extend(options.access.pace.map(|p| p.protocol.name()));
    Ok(json!({
        "specimen": {
            "dir": args.out,
            "trust_store": trust,
            "document_type": format!("{:?}", mrz.document_type).to_uppercase(),
            "mrz_key": format!("{}:{}:{}", mrz.document_number, mrz.date_of_birth, mrz.date_of_expiry),
            "can": options.access.can.as_ref().map(|c| c.digits().to_owned()),
            "access": access,
            "portrait": portrait.map(|p| json!({
                "format": p.format.name(), "width": p.width, "height": p.height, "bytes": p.image.len(),
            })),
            "files": files,
        }
    }))
}
