//! YUV4MPEG2 (Y4M) files: raw planar YUV frames, the uncompressed format test
//! clips and `ffmpeg -f yuv4mpegpipe` produce. Planes are repacked into the
//! layouts cameras send (4:2:0 → NV12, 4:2:2 and 4:4:4 → YUYV, mono → grey)
//! so they decode through the camera path.

use std::io::{BufRead, Read};

use y4m::Colorspace;

use crate::raw::{MAX_DIMENSION, PixelFormat};

/// The decoder, reading the header line again before the rest.
pub type Decoder<R> = y4m::Decoder<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>;

/// A Y4M stream's header, checked before the decoder allocates a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Y4mHeader {
    pub width: u32,
    pub height: u32,
    pub fps: Option<f64>,
}

/// Reads the header line and checks the size the stream announces, then
/// opens the decoder on the same bytes. The y4m decoder multiplies the
/// announced sizes unchecked, so a hostile header must stop here.
pub fn open<R: BufRead>(mut input: R) -> Result<(Y4mHeader, Decoder<R>), String> {
    let mut line = Vec::new();
    (&mut input)
        .take(1024)
        .read_until(b'\n', &mut line)
        .map_err(|e| e.to_string())?;
    if !line.starts_with(b"YUV4MPEG2 ") || !line.ends_with(b"\n") {
        return Err("not a YUV4MPEG2 file".into());
    }
    let mut width = None;
    let mut height = None;
    for field in line[10..line.len() - 1].split(|&b| b == b' ') {
        let number = || -> Result<u32, String> {
            std::str::from_utf8(&field[1..])
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .filter(|&n| (1..=MAX_DIMENSION).contains(&n))
                .ok_or_else(|| {
                    format!(
                        "size field `{}` is not 1..={MAX_DIMENSION}",
                        String::from_utf8_lossy(field)
                    )
                })
        };
        match field.first() {
            Some(b'W') => width = Some(number()?),
            Some(b'H') => height = Some(number()?),
            _ => {}
        }
    }
    let (Some(width), Some(height)) = (width, height) else {
        return Err("the header has no W or H".into());
    };
    let decoder = y4m::Decoder::new(std::io::Cursor::new(line).chain(input))
        .map_err(|e| format!("bad header: {e:?}"))?;
    let rate = decoder.get_framerate();
    let fps = (rate.num > 0 && rate.den > 0).then(|| rate.num as f64 / rate.den as f64);
    Ok((Y4mHeader { width, height, fps }, decoder))
}

/// The wire format a Y4M colour space is repacked into.
pub fn target_format(
    colorspace: Colorspace,
    width: u32,
    height: u32,
) -> Result<PixelFormat, String> {
    match colorspace {
        Colorspace::Cmono => Ok(PixelFormat::Gray),
        Colorspace::C420 | Colorspace::C420jpeg | Colorspace::C420paldv | Colorspace::C420mpeg2
            if width.is_multiple_of(2) && height.is_multiple_of(2) =>
        {
            Ok(PixelFormat::Nv12)
        }
        Colorspace::C422 | Colorspace::C444 if width.is_multiple_of(2) => Ok(PixelFormat::Yuyv),
        other => Err(format!(
            "{other:?} at {width}x{height} is not supported (8-bit 4:2:0, 4:2:2, 4:4:4 or mono, even sizes)"
        )),
    }
}

/// One decoded Y4M frame repacked as `format`.
pub fn repack(frame: &y4m::Frame<'_>, format: PixelFormat, width: u32) -> Vec<u8> {
    let (y, u, v) = (
        frame.get_y_plane(),
        frame.get_u_plane(),
        frame.get_v_plane(),
    );
    let width = width as usize;
    match format {
        PixelFormat::Nv12 => {
            let mut out = Vec::with_capacity(y.len() + u.len() * 2);
            out.extend_from_slice(y);
            for (u, v) in u.iter().zip(v) {
                out.extend_from_slice(&[*u, *v]);
            }
            out
        }
        PixelFormat::Yuyv => {
            // 4:4:4 chroma has a sample per pixel: keep every other one.
            let chroma_step = if u.len() == y.len() { 2 } else { 1 };
            let mut out = Vec::with_capacity(y.len() * 2);
            for (row, luma) in y.chunks_exact(width).enumerate() {
                let chroma_row = row * width / 2 * chroma_step;
                for (pair, l) in luma.chunks_exact(2).enumerate() {
                    let c = chroma_row + pair * chroma_step;
                    let (cu, cv) = (
                        u.get(c).copied().unwrap_or(128),
                        v.get(c).copied().unwrap_or(128),
                    );
                    out.extend_from_slice(&[l[0], cu, l[1], cv]);
                }
            }
            out
        }
        _ => y.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_headers_are_refused_before_allocation() {
        for header in [
            &b"YUV4MPEG2 W99999999999 H2 C420\n"[..],
            b"YUV4MPEG2 W8193 H2 C420\n",
            b"YUV4MPEG2 W0 H2\n",
            b"YUV4MPEG2 H2 F30:1\n",
            b"YUV4MPEG2 W2 H2 C420 but no end of line",
            b"RIFF....",
        ] {
            assert!(open(header).is_err(), "{}", String::from_utf8_lossy(header));
        }
    }

    #[test]
    fn a_header_gives_size_and_rate() {
        let (header, _) = open(&b"YUV4MPEG2 W4 H2 F30000:1001 Ip A1:1 C420jpeg\n"[..]).unwrap();
        assert_eq!((header.width, header.height), (4, 2));
        assert!((header.fps.unwrap() - 29.97).abs() < 0.01);
    }
}
