//! The logical data structure: which elementary files an eMRTD holds, their
//! file and short file identifiers, and the few contents the protocol itself
//! needs (the MRZ in DG1), and the additional document details of DG12.

use crate::mrz::{CheckedField, Mrz, MrzError, Validation};
use crate::tlv::{self, TlvError};
use thiserror::Error;

/// The eMRTD application identifier (ICAO 9303-10 §3.6.3).
pub const EMRTD_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01];

/// The tags of DG1..DG16 (ICAO 9303-10 table 34).
const DG_TAGS: [u8; 16] = [
    0x61, 0x75, 0x63, 0x76, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x70,
];

/// An elementary file of the eMRTD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LdsFile {
    /// Under the master file, readable without access control.
    CardAccess,
    Com,
    /// Data group 1 to 16.
    Dg(u8),
    Sod,
}

impl LdsFile {
    /// Every file in reading order.
    pub fn all() -> impl Iterator<Item = Self> {
        [Self::CardAccess, Self::Com]
            .into_iter()
            .chain((1..=16).map(Self::Dg))
            .chain([Self::Sod])
    }

    pub fn fid(self) -> u16 {
        match self {
            Self::CardAccess => 0x011C,
            Self::Com => 0x011E,
            Self::Dg(n) => 0x0100 | u16::from(n),
            Self::Sod => 0x011D,
        }
    }

    pub fn sfi(self) -> u8 {
        (self.fid() & 0x1F) as u8
    }

    pub fn from_fid(fid: u16) -> Option<Self> {
        match fid {
            0x011C => Some(Self::CardAccess),
            0x011E => Some(Self::Com),
            0x011D => Some(Self::Sod),
            0x0101..=0x0110 => Some(Self::Dg((fid & 0xFF) as u8)),
            _ => None,
        }
    }

    pub fn from_sfi(sfi: u8) -> Option<Self> {
        Self::from_fid(0x0100 | u16::from(sfi))
    }

    /// Whether the file sits in the eMRTD application (and so needs access
    /// control) rather than in the master file.
    pub fn in_application(self) -> bool {
        self != Self::CardAccess
    }

    /// The tag the file's content starts with, as EF.COM lists data groups.
    pub fn tag(self) -> u8 {
        match self {
            Self::CardAccess => 0x31,
            Self::Com => 0x60,
            Self::Sod => 0x77,
            Self::Dg(n) => DG_TAGS
                .get(usize::from(n).wrapping_sub(1))
                .copied()
                .unwrap_or(0),
        }
    }

    pub fn from_tag(tag: u8) -> Option<Self> {
        DG_TAGS
            .iter()
            .position(|t| *t == tag)
            .map(|i| Self::Dg(i as u8 + 1))
    }

    /// The name used for the file on disk and in reports: `CardAccess`,
    /// `COM`, `DG1`…`DG16`, `SOD`.
    pub fn name(self) -> String {
        match self {
            Self::CardAccess => "CardAccess".into(),
            Self::Com => "COM".into(),
            Self::Dg(n) => format!("DG{n}"),
            Self::Sod => "SOD".into(),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "CardAccess" => Some(Self::CardAccess),
            "COM" => Some(Self::Com),
            "SOD" => Some(Self::Sod),
            _ => name
                .strip_prefix("DG")
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| (1..=16).contains(n))
                .map(Self::Dg),
        }
    }
}

/// Why DG1 holds no usable MRZ.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Dg1Error {
    #[error("DG1 is malformed: {0}")]
    Tlv(#[from] TlvError),
    #[error("DG1's MRZ is not text")]
    NotText,
    #[error("DG1's MRZ is invalid: {0}")]
    Mrz(#[from] MrzError),
}

/// The MRZ inside DG1 (`61 { 5F1F mrz }`). Composite check digits of
/// specimens are sometimes wrong, so only the keying fields are enforced.
pub fn parse_dg1(bytes: &[u8]) -> Result<Mrz, Dg1Error> {
    Ok(Mrz::parse_with(
        &dg1_text(bytes)?,
        Validation::IgnoreComposite,
    )?)
}

/// Whether DG1's composite check digit is right: `parse_dg1` accepts a
/// wrong one (some issuers' specimens print one, and Passive Authentication
/// protects the data anyway), so the reader reports it beside the data.
pub fn dg1_composite_valid(bytes: &[u8]) -> Result<bool, Dg1Error> {
    match Mrz::parse_with(&dg1_text(bytes)?, Validation::Strict) {
        Ok(_) => Ok(true),
        Err(MrzError::CheckDigit {
            field: CheckedField::Composite,
            ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// DG1's MRZ as lines of its format's width.
fn dg1_text(bytes: &[u8]) -> Result<String, Dg1Error> {
    let dg1 = tlv::expect(bytes, 0x61)?;
    let mrz = dg1
        .children()
        .find(0x5F1F)?
        .ok_or(TlvError::Missing(0x5F1F))?;
    let text = std::str::from_utf8(mrz.value).map_err(|_| Dg1Error::NotText)?;
    let width = match text.len() {
        90 => 30,
        72 => 36,
        _ => 44,
    };
    let lines: Vec<&str> = (0..text.len().div_ceil(width))
        .filter_map(|i| text.get(i * width..((i + 1) * width).min(text.len())))
        .collect();
    Ok(lines.join("\n"))
}

/// DG12, the additional document details (ICAO 9303-10 §4.7.12). Every
/// element is optional; text is UTF-8 (ISO 8859-1 bytes that are not are
/// shown with replacement characters). The two document images are
/// reported by size only.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AdditionalDocumentDetails {
    /// 5F19.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuing_authority: Option<String>,
    /// 5F26, YYYYMMDD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_issue: Option<String>,
    /// A0 { 02 count, 5F1A name… }.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_persons: Vec<String>,
    /// 5F1B.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endorsements_and_observations: Option<String>,
    /// 5F1C.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_or_exit_requirements: Option<String>,
    /// 5F1D, bytes of the image of the front of the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub front_image_bytes: Option<usize>,
    /// 5F1E, bytes of the image of the rear of the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rear_image_bytes: Option<usize>,
    /// 5F55, yyyymmddhhmmss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personalization_time: Option<String>,
    /// 5F56.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personalization_system_serial: Option<String>,
}

fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

/// Parses DG12 (`6C { 5C tag list, elements… }`). Unknown elements are
/// skipped; a malformed structure is an error.
pub fn parse_dg12(bytes: &[u8]) -> Result<AdditionalDocumentDetails, TlvError> {
    let dg12 = tlv::expect(bytes, 0x6C)?;
    let mut details = AdditionalDocumentDetails::default();
    for element in dg12.children() {
        let element = element?;
        let value = element.value;
        match element.tag {
            0x5F19 => details.issuing_authority = Some(text(value)),
            0x5F26 => details.date_of_issue = Some(text(value)),
            0xA0 => {
                for person in element.children() {
                    let person = person?;
                    if person.tag == 0x5F1A {
                        details.other_persons.push(text(person.value));
                    }
                }
            }
            0x5F1B => details.endorsements_and_observations = Some(text(value)),
            0x5F1C => details.tax_or_exit_requirements = Some(text(value)),
            0x5F1D => details.front_image_bytes = Some(value.len()),
            0x5F1E => details.rear_image_bytes = Some(value.len()),
            0x5F55 => details.personalization_time = Some(text(value)),
            0x5F56 => details.personalization_system_serial = Some(text(value)),
            _ => {}
        }
    }
    Ok(details)
}

/// Builds DG12 with the text elements of `details` (images are not
/// encoded: only their sizes are kept), for specimens and tests.
pub fn encode_dg12(details: &AdditionalDocumentDetails) -> Vec<u8> {
    let texts = [
        (0x5F19u32, &details.issuing_authority),
        (0x5F26, &details.date_of_issue),
        (0x5F1B, &details.endorsements_and_observations),
        (0x5F1C, &details.tax_or_exit_requirements),
        (0x5F55, &details.personalization_time),
        (0x5F56, &details.personalization_system_serial),
    ];
    let mut tags = Vec::new();
    let mut elements = Vec::new();
    for (tag, value) in texts {
        if let Some(value) = value {
            tags.extend_from_slice(&(tag as u16).to_be_bytes());
            elements.push(tlv::encode(tag, value.as_bytes()));
        }
    }
    if !details.other_persons.is_empty() {
        tags.push(0xA0);
        let count = u8::try_from(details.other_persons.len()).unwrap_or(u8::MAX);
        let mut persons = tlv::encode(0x02, &[count]);
        for name in details.other_persons.iter().take(usize::from(count)) {
            persons.extend(tlv::encode(0x5F1A, name.as_bytes()));
        }
        elements.push(tlv::encode(0xA0, &persons));
    }
    let mut content = tlv::encode(0x5C, &tags);
    content.extend(elements.concat());
    tlv::encode(0x6C, &content)
}

/// The data groups EF.COM lists in its tag list (`60 { .. 5C tags }`), in
/// order, without duplicates; unknown tags are skipped.
pub fn parse_com(bytes: &[u8]) -> Result<Vec<LdsFile>, TlvError> {
    let com = tlv::expect(bytes, 0x60)?;
    let list = com.children().find(0x5C)?.ok_or(TlvError::Missing(0x5C))?;
    let mut groups: Vec<LdsFile> = Vec::new();
    for file in list.value.iter().filter_map(|t| LdsFile::from_tag(*t)) {
        if !groups.contains(&file) {
            groups.push(file);
        }
    }
    Ok(groups)
}

/// Builds EF.COM listing `groups` (LDS version 1.7, Unicode 4.0.0).
pub fn encode_com(groups: &[LdsFile]) -> Vec<u8> {
    let tags: Vec<u8> = groups.iter().map(|g| g.tag()).collect();
    tlv::encode(
        0x60,
        &[
            tlv::encode(0x5F01, b"0107"),
            tlv::encode(0x5F36, b"040000"),
            tlv::encode(0x5C, &tags),
        ]
        .concat(),
    )
}

/// Builds DG1 from MRZ text (lines concatenated), for specimens and tests.
pub fn encode_dg1(mrz_text: &str) -> Vec<u8> {
    let compact: String = mrz_text.lines().map(str::trim).collect();
    tlv::encode(0x61, &tlv::encode(0x5F1F, compact.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip() {
        for f in LdsFile::all() {
            assert_eq!(LdsFile::from_fid(f.fid()), Some(f));
            assert_eq!(LdsFile::from_sfi(f.sfi()), Some(f));
            assert_eq!(LdsFile::from_name(&f.name()), Some(f));
        }
        assert_eq!(LdsFile::all().count(), 19);
        assert_eq!(LdsFile::Dg(2).sfi(), 2);
        assert_eq!(LdsFile::from_name("DG17"), None);
        for n in 1..=16 {
            assert_eq!(
                LdsFile::from_tag(LdsFile::Dg(n).tag()),
                Some(LdsFile::Dg(n))
            );
        }
        assert_eq!(LdsFile::Dg(2).tag(), 0x75);
        assert_eq!(LdsFile::Dg(0).tag(), 0);
    }

    #[test]
    fn com_lists_data_groups() {
        // EF.COM of ICAO 9303-11 appendix D.4 lists DG1 and DG2
        let com = hex::decode("60145F0104303130365F36063034303030305C026175").unwrap();
        assert_eq!(parse_com(&com).unwrap(), [LdsFile::Dg(1), LdsFile::Dg(2)]);
        let repeated = [0x60, 0x05, 0x5C, 0x03, 0x61, 0x75, 0x61];
        assert_eq!(
            parse_com(&repeated).unwrap(),
            [LdsFile::Dg(1), LdsFile::Dg(2)]
        );
        assert_eq!(parse_com(&[0x60, 0x00]), Err(TlvError::Missing(0x5C)));
        let groups = [LdsFile::Dg(1), LdsFile::Dg(2), LdsFile::Dg(15)];
        assert_eq!(parse_com(&encode_com(&groups)).unwrap(), groups);
    }

    #[test]
    fn dg12_round_trips_and_reads_every_element() {
        let details = AdditionalDocumentDetails {
            issuing_authority: Some("上海市公安局出入境管理局".into()),
            date_of_issue: Some("20240115".into()),
            other_persons: vec!["ERIKSSON<<LARS".into(), "ERIKSSON<<EVA".into()],
            endorsements_and_observations: Some("NONE".into()),
            tax_or_exit_requirements: None,
            front_image_bytes: None,
            rear_image_bytes: None,
            personalization_time: Some("20240110093000".into()),
            personalization_system_serial: Some("PS-0042".into()),
        };
        let encoded = encode_dg12(&details);
        assert_eq!(parse_dg12(&encoded).unwrap(), details);
        // 9303-10's layout by hand: authority, date of issue, a front image.
        let mut content = tlv::encode(0x5C, &[0x5F, 0x19, 0x5F, 0x26, 0x5F, 0x1D]);
        content.extend(tlv::encode(0x5F19, b"UTOPIA"));
        content.extend(tlv::encode(0x5F26, b"20200101"));
        content.extend(tlv::encode(0x5F1D, &[0xFF, 0xD8, 0xFF, 0xD9]));
        content.extend(tlv::encode(0x5F7F, b"unknown elements are skipped"));
        let parsed = parse_dg12(&tlv::encode(0x6C, &content)).unwrap();
        assert_eq!(parsed.issuing_authority.as_deref(), Some("UTOPIA"));
        assert_eq!(parsed.date_of_issue.as_deref(), Some("20200101"));
        assert_eq!(parsed.front_image_bytes, Some(4));
        assert_eq!(parsed.rear_image_bytes, None);
        assert!(parse_dg12(&[0x6B, 0x00]).is_err());
        assert!(parse_dg12(&[0x6C, 0x05, 0x5F, 0x19, 0x09, 0x41]).is_err());
    }

    #[test]
    fn dg1_round_trips() {
        let text = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
        let mrz = parse_dg1(&encode_dg1(text)).unwrap();
        assert_eq!(mrz.document_number, "L898902C3");
        assert!(parse_dg1(&[0x61, 0x00]).is_err());
        assert_eq!(dg1_composite_valid(&encode_dg1(text)).ok(), Some(true));
    }

    #[test]
    fn a_wrong_composite_digit_is_read_and_reported() {
        let bad = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<11";
        assert!(parse_dg1(&encode_dg1(bad)).is_ok());
        assert_eq!(dg1_composite_valid(&encode_dg1(bad)).ok(), Some(false));
        // Any other wrong digit is an error, not a flag.
        let bad_number = bad.replace("L898902C36", "L898902C37");
        assert!(dg1_composite_valid(&encode_dg1(&bad_number)).is_err());
    }
}
