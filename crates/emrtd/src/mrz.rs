//! The machine readable zone (ICAO 9303 parts 3, 4, 5 and 6): TD1 (3 lines of
//! 30), TD2 (2 of 36) and TD3 (2 of 44), with every check digit validated.

use std::fmt;
use thiserror::Error;

/// The MRZ format, which fixes where each field sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DocumentType {
    /// ID-card size, three lines of 30 characters.
    Td1,
    /// Two lines of 36 characters.
    Td2,
    /// Passport booklet, two lines of 44 characters.
    Td3,
}

impl DocumentType {
    fn shape(self) -> (usize, usize) {
        match self {
            Self::Td1 => (3, 30),
            Self::Td2 => (2, 36),
            Self::Td3 => (2, 44),
        }
    }
}

/// A field that carries a check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedField {
    DocumentNumber,
    DateOfBirth,
    DateOfExpiry,
    PersonalNumber,
    Composite,
}

impl fmt::Display for CheckedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DocumentNumber => "document number",
            Self::DateOfBirth => "date of birth",
            Self::DateOfExpiry => "date of expiry",
            Self::PersonalNumber => "personal number",
            Self::Composite => "composite",
        })
    }
}

/// Why text is not a valid MRZ. Messages never echo the MRZ itself: it is
/// personal data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MrzError {
    #[error(
        "an MRZ has 2 lines of 44 or 36 characters or 3 lines of 30; got {lines} line(s) of {first_len}"
    )]
    Shape { lines: usize, first_len: usize },
    #[error("MRZ characters are A-Z, 0-9 and '<' only")]
    InvalidCharacter,
    #[error("the {field} check digit is wrong: it should be {expected}, the MRZ says {found}")]
    CheckDigit {
        field: CheckedField,
        expected: char,
        found: char,
    },
    #[error("the {0} is not a date in YYMMDD form")]
    InvalidDate(CheckedField),
    #[error("the document number is empty or its continuation in the optional data is malformed")]
    InvalidDocumentNumber,
}

/// How strictly [`Mrz::parse_with`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Every check digit must be right.
    #[default]
    Strict,
    /// Accept a wrong composite check digit (some specimens print one); the
    /// fields that key the chip are still checked.
    IgnoreComposite,
}

/// ICAO 9303-3 check digit: weights 7, 3, 1 over character values.
pub fn check_digit(field: &str) -> Result<char, MrzError> {
    let mut sum = 0u32;
    for (i, c) in field.chars().enumerate() {
        let value = char_value(c).ok_or(MrzError::InvalidCharacter)?;
        sum += value * [7, 3, 1][i % 3];
    }
    Ok(char::from(b'0' + (sum % 10) as u8))
}

fn char_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
        '<' => Some(0),
        _ => None,
    }
}

/// A date as the MRZ writes it, YYMMDD (the century is not recorded).
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MrzDate(String);

impl MrzDate {
    pub fn parse(text: &str, field: CheckedField) -> Result<Self, MrzError> {
        let bytes = text.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(MrzError::InvalidDate(field));
        }
        let two = |i: usize| text.get(i..i + 2).and_then(|s| s.parse::<u8>().ok());
        let (month, day) = (two(2).unwrap_or(0), two(4).unwrap_or(0));
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(MrzError::InvalidDate(field));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MrzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MrzDate(..)")
    }
}

impl fmt::Display for MrzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed, validated MRZ. `Debug` hides the personal fields.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mrz {
    pub document_type: DocumentType,
    /// e.g. `P<`, `I<`, `AC`.
    pub document_code: String,
    pub issuing_state: String,
    /// Without trailing fillers; longer than 9 characters when the document
    /// uses the TD1/TD2 overflow into the optional data.
    pub document_number: String,
    pub primary_identifier: String,
    pub secondary_identifier: String,
    pub nationality: String,
    pub date_of_birth: MrzDate,
    /// `M`, `F` or `<`.
    pub sex: char,
    pub date_of_expiry: MrzDate,
    pub optional_data: String,
}

impl fmt::Debug for Mrz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mrz")
            .field("document_type", &self.document_type)
            .field("document_code", &self.document_code)
            .field("issuing_state", &self.issuing_state)
            .finish_non_exhaustive()
    }
}

/// Fixed-position field access that cannot panic: the shape is checked
/// before any field is read, and `get` guards the rest.
struct Line<'a>(&'a str);

impl<'a> Line<'a> {
    fn at(&self, from: usize, to: usize) -> &'a str {
        self.0.get(from..to).unwrap_or_default()
    }
    fn char(&self, i: usize) -> char {
        self.0.as_bytes().get(i).map_or('<', |b| char::from(*b))
    }
}

fn verify(field: CheckedField, data: &str, found: char) -> Result<(), MrzError> {
    let expected = check_digit(data)?;
    // An empty optional field may carry a filler instead of 0.
    let filler_ok =
        field == CheckedField::PersonalNumber && found == '<' && data.chars().all(|c| c == '<');
    if expected == found || filler_ok {
        Ok(())
    } else {
        Err(MrzError::CheckDigit {
            field,
            expected,
            found,
        })
    }
}

fn strip_fillers(s: &str) -> String {
    s.trim_end_matches('<').to_owned()
}

fn split_name(field: &str) -> (String, String) {
    let trimmed = field.trim_end_matches('<');
    let (primary, secondary) = trimmed.split_once("<<").unwrap_or((trimmed, ""));
    (
        primary.replace('<', " "),
        secondary.replace('<', " ").trim().to_owned(),
    )
}

/// The document number of a TD1/TD2: when the check digit position holds a
/// filler, the number continues in the optional data up to the first filler,
/// whose last character is then the check digit.
fn long_document_number(
    number: &str,
    check: char,
    optional: &str,
) -> Result<(String, char), MrzError> {
    if check != '<' {
        return Ok((strip_fillers(number), check));
    }
    let continuation = optional.split('<').next().unwrap_or_default();
    let mut chars: Vec<char> = continuation.chars().collect();
    let digit = chars.pop().ok_or(MrzError::InvalidDocumentNumber)?;
    let mut full = number.to_owned();
    full.extend(chars);
    Ok((full, digit))
}

impl Mrz {
    /// Parses an MRZ with every check digit verified. Lines may be separated
    /// by newlines or concatenated; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, MrzError> {
        Self::parse_with(text, Validation::Strict)
    }

    pub fn parse_with(text: &str, validation: Validation) -> Result<Self, MrzError> {
        let lines = split_lines(text)?;
        if !lines.iter().all(|l| {
            l.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
        }) {
            return Err(MrzError::InvalidCharacter);
        }
        let document_type = match (lines.len(), lines.first().map_or(0, |l| l.len())) {
            (3, 30) => DocumentType::Td1,
            (2, 36) => DocumentType::Td2,
            (2, 44) => DocumentType::Td3,
            (n, len) => {
                return Err(MrzError::Shape {
                    lines: n,
                    first_len: len,
                });
            }
        };
        let (count, width) = document_type.shape();
        if lines.len() != count || lines.iter().any(|l| l.len() != width) {
            return Err(MrzError::Shape {
                lines: lines.len(),
                first_len: width,
            });
        }
        let l1 = Line(lines.first().map_or("", String::as_str));
        let l2 = Line(lines.get(1).map_or("", String::as_str));
        let document_code = l1.at(0, 2).to_owned();
        let issuing_state = strip_fillers(l1.at(2, 5));
        let strict = validation == Validation::Strict;
        let mrz = match document_type {
            DocumentType::Td1 => {
                let l3 = Line(lines.get(2).map_or("", String::as_str));
                let optional1 = l1.at(15, 30);
                let (number, cd) = long_document_number(l1.at(5, 14), l1.char(14), optional1)?;
                verify(CheckedField::DocumentNumber, &pad_number(&number), cd)?;
                verify(CheckedField::DateOfBirth, l2.at(0, 6), l2.char(6))?;
                verify(CheckedField::DateOfExpiry, l2.at(8, 14), l2.char(14))?;
                if strict {
                    let composite =
                        [l1.at(5, 30), l2.at(0, 7), l2.at(8, 15), l2.at(18, 29)].concat();
                    verify(CheckedField::Composite, &composite, l2.char(29))?;
                }
                let (primary, secondary) = split_name(l3.at(0, 30));
                let optional = if l1.char(14) == '<' {
                    l1.at(15, 30).split_once('<').map_or("", |(_, rest)| rest)
                } else {
                    optional1
                };
                Self {
                    document_type,
                    document_code,
                    issuing_state,
                    document_number: number,
                    primary_identifier: primary,
                    secondary_identifier: secondary,
                    nationality: strip_fillers(l2.at(15, 18)),
                    date_of_birth: MrzDate::parse(l2.at(0, 6), CheckedField::DateOfBirth)?,
                    sex: l2.char(7),
                    date_of_expiry: MrzDate::parse(l2.at(8, 14), CheckedField::DateOfExpiry)?,
                    optional_data: [optional, l2.at(18, 29)]
                        .concat()
                        .trim_matches('<')
                        .to_owned(),
                }
            }
            DocumentType::Td2 | DocumentType::Td3 => {
                let optional_end = if document_type == DocumentType::Td2 {
                    35
                } else {
                    42
                };
                let optional_field = l2.at(28, optional_end);
                let (number, cd) = if document_type == DocumentType::Td2 {
                    long_document_number(l2.at(0, 9), l2.char(9), optional_field)?
                } else {
                    (strip_fillers(l2.at(0, 9)), l2.char(9))
                };
                verify(CheckedField::DocumentNumber, &pad_number(&number), cd)?;
                verify(CheckedField::DateOfBirth, l2.at(13, 19), l2.char(19))?;
                verify(CheckedField::DateOfExpiry, l2.at(21, 27), l2.char(27))?;
                if document_type == DocumentType::Td3 {
                    verify(CheckedField::PersonalNumber, l2.at(28, 42), l2.char(42))?;
                }
                if strict {
                    let end = if document_type == DocumentType::Td2 {
                        35
                    } else {
                        43
                    };
                    let composite = [l2.at(0, 10), l2.at(13, 20), l2.at(21, end)].concat();
                    verify(CheckedField::Composite, &composite, l2.char(end))?;
                }
                let (primary, secondary) = split_name(l1.at(5, l1.0.len()));
                let optional = if document_type == DocumentType::Td2 && l2.char(9) == '<' {
                    optional_field.split_once('<').map_or("", |(_, rest)| rest)
                } else {
                    optional_field
                };
                Self {
                    document_type,
                    document_code,
                    issuing_state,
                    document_number: number,
                    primary_identifier: primary,
                    secondary_identifier: secondary,
                    nationality: strip_fillers(l2.at(10, 13)),
                    date_of_birth: MrzDate::parse(l2.at(13, 19), CheckedField::DateOfBirth)?,
                    sex: l2.char(20),
                    date_of_expiry: MrzDate::parse(l2.at(21, 27), CheckedField::DateOfExpiry)?,
                    optional_data: optional.trim_matches('<').to_owned(),
                }
            }
        };
        if mrz.document_number.is_empty() {
            return Err(MrzError::InvalidDocumentNumber);
        }
        Ok(mrz)
    }
}

/// The document number as the check digit and the BAC seed see it: padded
/// with fillers to at least 9 characters.
pub(crate) fn pad_number(number: &str) -> String {
    format!("{number:<<9}")
}

fn split_lines(text: &str) -> Result<Vec<String>, MrzError> {
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.len() == 1 {
        // One run of characters: cut it by the only length that fits.
        let all = lines.first().map_or("", String::as_str);
        let width = match all.len() {
            90 => 30,
            72 => 36,
            88 => 44,
            n => {
                return Err(MrzError::Shape {
                    lines: 1,
                    first_len: n,
                });
            }
        };
        if !all.is_ascii() {
            return Err(MrzError::InvalidCharacter);
        }
        return Ok((0..all.len() / width)
            .map(|i| {
                all.get(i * width..(i + 1) * width)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect());
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD3: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";

    #[test]
    fn check_digits_follow_doc_9303_3() {
        assert_eq!(check_digit("L898902C3").ok(), Some('6'));
        assert_eq!(check_digit("740812").ok(), Some('2'));
        assert_eq!(check_digit("<<<<<<").ok(), Some('0'));
        assert_eq!(check_digit("a"), Err(MrzError::InvalidCharacter));
    }

    #[test]
    fn parses_td3_specimen() {
        let mrz = Mrz::parse(TD3).unwrap();
        assert_eq!(mrz.document_type, DocumentType::Td3);
        assert_eq!(mrz.document_number, "L898902C3");
        assert_eq!(mrz.primary_identifier, "ERIKSSON");
        assert_eq!(mrz.secondary_identifier, "ANNA MARIA");
        assert_eq!(mrz.date_of_birth.as_str(), "740812");
        assert_eq!(mrz.date_of_expiry.as_str(), "120415");
        assert_eq!(mrz.sex, 'F');
        assert_eq!(mrz.nationality, "UTO");
        assert_eq!(mrz.optional_data, "ZE184226B");
        // concatenated form parses the same
        assert_eq!(Mrz::parse(&TD3.replace('\n', "")).unwrap(), mrz);
    }

    #[test]
    fn rejects_each_wrong_digit() {
        let bad_number = TD3.replace("L898902C36", "L898902C35");
        assert!(matches!(
            Mrz::parse(&bad_number),
            Err(MrzError::CheckDigit {
                field: CheckedField::DocumentNumber,
                ..
            })
        ));
        let bad_composite = TD3.replace("<<<<<10", "<<<<<11");
        assert_eq!(
            Mrz::parse(&bad_composite),
            Err(MrzError::CheckDigit {
                field: CheckedField::Composite,
                expected: '0',
                found: '1'
            })
        );
        assert!(Mrz::parse_with(&bad_composite, Validation::IgnoreComposite).is_ok());
        assert!(matches!(Mrz::parse("P<UTO"), Err(MrzError::Shape { .. })));
        assert_eq!(
            Mrz::parse(&TD3.replace('E', "é")),
            Err(MrzError::InvalidCharacter)
        );
    }
}
