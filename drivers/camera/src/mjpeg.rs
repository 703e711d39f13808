//! Motion JPEG files: JPEG images back to back, as cameras and `ffmpeg -f
//! mjpeg` write them. Frames are cut by walking the JPEG marker structure, so
//! an `FF D9` inside a thumbnail or a table never ends a frame early.

use std::io::{BufRead, ErrorKind};

/// No camera frame comes near this; a "frame" that does is a broken file.
pub const MAX_JPEG_BYTES: usize = 8 << 20;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// Why the next frame could not be cut out of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    Io(String),
    /// The stream ends inside a frame.
    Truncated,
    /// Not JPEG structure where a marker must be.
    Malformed(String),
    TooLarge,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "read error: {e}"),
            Self::Truncated => f.write_str("the file ends inside a frame"),
            Self::Malformed(m) => write!(f, "not a JPEG frame: {m}"),
            Self::TooLarge => write!(f, "a frame is larger than {MAX_JPEG_BYTES} bytes"),
        }
    }
}

/// Reads the next complete JPEG (SOI … EOI) from `input`. Bytes before the
/// first SOI (padding, multipart headers) are skipped. `Ok(None)` at a clean
/// end of the stream.
pub fn next_jpeg(input: &mut impl BufRead) -> Result<Option<Vec<u8>>, SplitError> {
    if !skip_to_soi(input)? {
        return Ok(None);
    }
    let mut out = vec![0xFF, SOI];
    let mut reader = Reader {
        input,
        out: &mut out,
    };
    // A marker already read by the scan that it ended.
    let mut pending = None;
    loop {
        let marker = match pending.take() {
            Some(code) => code,
            None => reader.marker()?,
        };
        match marker {
            EOI => break,
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                let len = reader.segment_length()?;
                reader.copy(len - 2)?;
                if marker == SOS {
                    // Entropy-coded data runs to the next real marker;
                    // progressive files have more tables and scans after it.
                    match reader.entropy_coded()? {
                        EOI => break,
                        code => pending = Some(code),
                    }
                }
            }
        }
    }
    Ok(Some(out))
}

fn skip_to_soi(input: &mut impl BufRead) -> Result<bool, SplitError> {
    let mut previous_ff = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(SplitError::Io(e.to_string())),
        };
        if buf.is_empty() {
            return Ok(false);
        }
        for (i, &b) in buf.iter().enumerate() {
            if previous_ff && b == SOI {
                input.consume(i + 1);
                return Ok(true);
            }
            previous_ff = b == 0xFF;
        }
        let n = buf.len();
        input.consume(n);
    }
}

struct Reader<'a, R> {
    input: &'a mut R,
    out: &'a mut Vec<u8>,
}

impl<R: BufRead> Reader<'_, R> {
    fn byte(&mut self) -> Result<u8, SplitError> {
        let mut b = [0u8];
        match self.input.read_exact(&mut b) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Err(SplitError::Truncated),
            Err(e) => return Err(SplitError::Io(e.to_string())),
        }
        if self.out.len() >= MAX_JPEG_BYTES {
            return Err(SplitError::TooLarge);
        }
        self.out.push(b[0]);
        Ok(b[0])
    }

    /// The next marker code, after its `FF` and any fill bytes.
    fn marker(&mut self) -> Result<u8, SplitError> {
        let first = self.byte()?;
        if first != 0xFF {
            return Err(SplitError::Malformed(format!(
                "expected a marker, found {first:#04x}"
            )));
        }
        loop {
            match self.byte()? {
                0xFF => continue,
                0x00 => {
                    return Err(SplitError::Malformed(
                        "a stuffed byte outside a scan".into(),
                    ));
                }
                code => return Ok(code),
            }
        }
    }

    fn segment_length(&mut self) -> Result<usize, SplitError> {
        let len = usize::from(self.byte()?) << 8 | usize::from(self.byte()?);
        if len < 2 {
            return Err(SplitError::Malformed(format!("segment length {len}")));
        }
        Ok(len)
    }

    fn copy(&mut self, mut n: usize) -> Result<(), SplitError> {
        if self.out.len() + n > MAX_JPEG_BYTES {
            return Err(SplitError::TooLarge);
        }
        while n > 0 {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(SplitError::Io(e.to_string())),
            };
            if buf.is_empty() {
                return Err(SplitError::Truncated);
            }
            let take = n.min(buf.len());
            self.out.extend_from_slice(&buf[..take]);
            self.input.consume(take);
            n -= take;
        }
        Ok(())
    }

    /// Copies scan data up to and including the marker that ends it, which
    /// it returns (never a stuffed zero or a restart marker).
    fn entropy_coded(&mut self) -> Result<u8, SplitError> {
        loop {
            if self.byte()? != 0xFF {
                continue;
            }
            let mut code = self.byte()?;
            while code == 0xFF {
                code = self.byte()?;
            }
            match code {
                0x00 | 0xD0..=0xD7 => continue,
                code => return Ok(code),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([seed, (x * 7) as u8, (y * 3) as u8])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// A JPEG with an APP segment that holds FF D9 (as EXIF thumbnails do).
    fn with_thumbnail_marker(jpeg: &[u8]) -> Vec<u8> {
        let app = [0xFF, 0xE1, 0x00, 0x08, b'E', b'x', 0xFF, 0xD9, 0xFF, 0xD8];
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&app);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn cuts_back_to_back_frames_exactly() {
        let frames = [
            jpeg(16, 8, 1),
            with_thumbnail_marker(&jpeg(20, 10, 2)),
            jpeg(8, 8, 3),
        ];
        let mut stream = b"--boundary\r\n\r\n".to_vec();
        for f in &frames {
            stream.extend_from_slice(f);
        }
        stream.extend_from_slice(b"\r\n");
        let mut input = std::io::BufReader::with_capacity(7, stream.as_slice());
        for f in &frames {
            assert_eq!(next_jpeg(&mut input).unwrap().as_ref(), Some(f));
        }
        assert_eq!(next_jpeg(&mut input).unwrap(), None);
    }

    #[test]
    fn truncation_and_garbage_are_errors_not_panics() {
        let f = jpeg(16, 16, 9);
        for cut in 3..f.len() - 1 {
            let mut input = &f[..cut];
            let got = next_jpeg(&mut input);
            assert!(got.is_err(), "cut at {cut} gave {got:?}");
        }
        let mut input: &[u8] = &[0xFF, 0xD8, 0x12, 0x34];
        assert!(matches!(
            next_jpeg(&mut input),
            Err(SplitError::Malformed(_))
        ));
        let mut input: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01];
        assert!(matches!(
            next_jpeg(&mut input),
            Err(SplitError::Malformed(_))
        ));
        let mut input: &[u8] = b"no jpeg here at all";
        assert_eq!(next_jpeg(&mut input), Ok(None));
    }

    #[test]
    fn an_endless_scan_stops_at_the_size_limit() {
        let mut stream = jpeg(8, 8, 0);
        stream.truncate(stream.len() - 2);
        let endless = std::io::Read::chain(stream.as_slice(), std::io::repeat(0x11));
        let mut input = std::io::BufReader::new(endless);
        assert_eq!(next_jpeg(&mut input), Err(SplitError::TooLarge));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_frame_an_end_or_an_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let mut input = bytes.as_slice();
            while let Ok(Some(frame)) = next_jpeg(&mut input) {
                proptest::prop_assert!(frame.starts_with(&[0xFF, 0xD8]));
                proptest::prop_assert!(frame.len() <= MAX_JPEG_BYTES);
            }
        }
    }
}
