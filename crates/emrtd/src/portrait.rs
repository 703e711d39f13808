//! DG2, the facial image: an ISO/IEC 19794-5 facial record inside the CBEFF
//! biometric information template of ICAO 9303-10 §4.7.2. Built for
//! specimens; parsed so the station can show and match the chip portrait.

use crate::tlv::{self, TlvError};
use thiserror::Error;

/// The encoding of the portrait image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Jpeg2000,
}

impl ImageFormat {
    /// The image data type of ISO/IEC 19794-5.
    fn code(self) -> u8 {
        match self {
            Self::Jpeg => 0,
            Self::Jpeg2000 => 1,
        }
    }

    /// `jpeg` or `jpeg2000`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Jpeg2000 => "jpeg2000",
        }
    }
}

/// A portrait: the encoded image exactly as stored, its format and size.
#[derive(Clone, PartialEq, Eq)]
pub struct Portrait {
    pub format: ImageFormat,
    pub width: u16,
    pub height: u16,
    pub image: Vec<u8>,
}

impl std::fmt::Debug for Portrait {
    // The image is biometric data: sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portrait")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.image.len())
            .finish()
    }
}

/// Why DG2 holds no usable portrait.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Dg2Error {
    #[error("DG2 is malformed: {0}")]
    Tlv(#[from] TlvError),
    #[error("DG2 holds no facial record")]
    NoFacialRecord,
    #[error("the facial record is malformed: {0}")]
    Record(&'static str),
    #[error("the facial image has an unsupported data type {0}")]
    UnsupportedImage(u8),
}

const FAC_HEADER_LEN: usize = 14;
const FACIAL_INFO_LEN: usize = 20;
const IMAGE_INFO_LEN: usize = 12;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl Portrait {
    /// The portrait with its size read from the image header (SOFn of a
    /// JPEG, `ihdr` of a JPEG 2000 file); 0×0 when it cannot be read.
    pub fn new(format: ImageFormat, image: Vec<u8>) -> Self {
        let (width, height) = match format {
            ImageFormat::Jpeg => jpeg_size(&image),
            ImageFormat::Jpeg2000 => jp2_size(&image),
        }
        .unwrap_or((0, 0));
        Self {
            format,
            width,
            height,
            image,
        }
    }

    /// The format the bytes announce: JPEG (`FF D8`) or JPEG 2000 (a JP2
    /// signature box or a bare codestream `FF 4F FF 51`).
    pub fn sniff(image: &[u8]) -> Option<ImageFormat> {
        if image.starts_with(&[0xFF, 0xD8]) {
            Some(ImageFormat::Jpeg)
        } else if image.starts_with(&[0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20])
            || image.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
        {
            Some(ImageFormat::Jpeg2000)
        } else {
            None
        }
    }

    /// The ISO/IEC 19794-5 facial record (`FAC`) with this one image;
    /// `gender` is 0 unspecified, 1 male, 2 female.
    pub fn facial_record(&self, gender: u8) -> Vec<u8> {
        let facial_len = FACIAL_INFO_LEN + IMAGE_INFO_LEN + self.image.len();
        let record_len = FAC_HEADER_LEN + facial_len;
        let mut out = Vec::with_capacity(record_len);
        // format identifier "FAC\0", version "010\0"
        out.extend_from_slice(&[b'F', b'A', b'C', 0, b'0', b'1', b'0', 0]);
        out.extend_from_slice(&(record_len as u32).to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        // facial information: no feature points, unspecified attributes
        out.extend_from_slice(&(facial_len as u32).to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&[gender, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // image information: full frontal, 24-bit RGB, unknown source
        out.extend_from_slice(&[1, self.format.code()]);
        out.extend_from_slice(&self.width.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&[1, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&self.image);
        out
    }

    /// DG2: `75 { 7F61 { 02 count, 7F60 { A1 header, 5F2E record } } }`.
    pub fn encode_dg2(&self, gender: u8) -> Vec<u8> {
        let header = tlv::encode(
            0xA1,
            &[
                tlv::encode(0x80, &[1, 1]),
                tlv::encode(0x81, &[2]),
                tlv::encode(0x87, &[1, 1]),
                tlv::encode(0x88, &[0, 8]),
            ]
            .concat(),
        );
        let instance = tlv::encode(
            0x7F60,
            &[header, tlv::encode(0x5F2E, &self.facial_record(gender))].concat(),
        );
        tlv::encode(
            0x75,
            &tlv::encode(0x7F61, &[tlv::encode(0x02, &[1]), instance].concat()),
        )
    }

    /// The first facial image of DG2 (biometric data in `5F2E` or, when
    /// enciphered by the issuer, `7F2E` is taken as it stands).
    pub fn parse_dg2(dg2: &[u8]) -> Result<Self, Dg2Error> {
        let outer = tlv::expect(dg2, 0x75)?;
        let group = tlv::expect(outer.value, 0x7F61)?;
        let instance = group
            .children()
            .find(0x7F60)?
            .ok_or(Dg2Error::NoFacialRecord)?;
        let mut record = None;
        for obj in instance.children() {
            let obj = obj?;
            if obj.tag == 0x5F2E || obj.tag == 0x7F2E {
                record = Some(obj.value);
            }
        }
        Self::parse_facial_record(record.ok_or(Dg2Error::NoFacialRecord)?)
    }

    fn parse_facial_record(record: &[u8]) -> Result<Self, Dg2Error> {
        if !record.starts_with(b"FAC\0") {
            return Err(Dg2Error::Record("no FAC header"));
        }
        let facial = record
            .get(FAC_HEADER_LEN..)
            .ok_or(Dg2Error::Record("truncated header"))?;
        let facial_len = u32_at(facial, 0).ok_or(Dg2Error::Record("truncated"))? as usize;
        let points = usize::from(u16_at(facial, 4).ok_or(Dg2Error::Record("truncated"))?);
        let info_at = FACIAL_INFO_LEN + 8 * points;
        let info = facial
            .get(info_at..info_at + IMAGE_INFO_LEN)
            .ok_or(Dg2Error::Record("truncated image information"))?;
        let format = match info.get(1) {
            Some(0) => ImageFormat::Jpeg,
            Some(1) => ImageFormat::Jpeg2000,
            Some(other) => return Err(Dg2Error::UnsupportedImage(*other)),
            None => return Err(Dg2Error::Record("truncated")),
        };
        let image = facial
            .get(info_at + IMAGE_INFO_LEN..facial_len.min(facial.len()))
            .filter(|i| !i.is_empty())
            .ok_or(Dg2Error::Record("no image data"))?;
        Ok(Self {
            format,
            width: u16_at(info, 2).unwrap_or(0),
            height: u16_at(info, 4).unwrap_or(0),
            image: image.to_vec(),
        })
    }
}

/// Width and height from a JPEG's first SOFn segment.
fn jpeg_size(image: &[u8]) -> Option<(u16, u16)> {
    let mut at = 2;
    loop {
        if *image.get(at)? != 0xFF {
            return None;
        }
        let marker = *image.get(at + 1)?;
        let len = usize::from(u16_at(image, at + 2)?);
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            return Some((u16_at(image, at + 7)?, u16_at(image, at + 5)?));
        }
        at += 2 + len;
    }
}

/// Width and height from a JP2 `ihdr` box or a codestream's SIZ segment.
fn jp2_size(image: &[u8]) -> Option<(u16, u16)> {
    let narrow = |v: u32| u16::try_from(v).ok();
    if let Some(pos) = image.windows(4).position(|w| w == b"ihdr") {
        let height = narrow(u32_at(image, pos + 4)?)?;
        let width = narrow(u32_at(image, pos + 8)?)?;
        return Some((width, height));
    }
    let pos = image.windows(2).position(|w| w == [0xFF, 0x51])?;
    let width = u32_at(image, pos + 6)?.checked_sub(u32_at(image, pos + 14)?)?;
    let height = u32_at(image, pos + 10)?.checked_sub(u32_at(image, pos + 18)?)?;
    Some((narrow(width)?, narrow(height)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dg2_round_trips_and_reads_jpeg_size() {
        // SOI, APP0 (short), SOF0 of 640x480
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46];
        jpeg.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03]);
        jpeg.extend([0x55; 100]);
        assert_eq!(Portrait::sniff(&jpeg), Some(ImageFormat::Jpeg));
        let portrait = Portrait::new(ImageFormat::Jpeg, jpeg.clone());
        assert_eq!((portrait.width, portrait.height), (640, 480));
        let dg2 = portrait.encode_dg2(2);
        let back = Portrait::parse_dg2(&dg2).unwrap();
        assert_eq!(back, portrait);
        assert_eq!(back.image, jpeg);
        assert!(Portrait::parse_dg2(&[0x75, 0x03, 0x7F, 0x61, 0x00]).is_err());
        let mut broken = dg2.clone();
        let fac = broken.windows(4).position(|w| w == b"FAC\0").unwrap();
        broken[fac] = b'X';
        assert_eq!(
            Portrait::parse_dg2(&broken),
            Err(Dg2Error::Record("no FAC header"))
        );
        let jp2 = Portrait::new(
            ImageFormat::Jpeg2000,
            [
                &b"\0\0\0\x0cjP  \r\n\x87\n"[..],
                b"\0\0\0\x16ihdr\0\0\x01\x00\0\0\x00\xC0",
            ]
            .concat(),
        );
        assert_eq!((jp2.width, jp2.height), (192, 256));
    }
}
