//! File sources decode through the camera path to the pixels that went in.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use camera::{CameraError, FileKind, FileOptions, FileSource, FrameSource};

/// Four solid colours a frame, one per quadrant, shifted by `n`.
fn quadrants(n: u8) -> [[u8; 3]; 4] {
    [
        [200, 30 + n, 40],
        [20, 190, 30 + n],
        [30, 40 + n, 210],
        [n, n, n],
    ]
}

fn picture(width: u32, height: u32, n: u8) -> image::RgbImage {
    let colours = quadrants(n);
    image::RgbImage::from_fn(width, height, |x, y| {
        let q = usize::from(x >= width / 2) + 2 * usize::from(y >= height / 2);
        image::Rgb(colours[q])
    })
}

fn assert_quadrants(frame: &camera::Frame, n: u8, tolerance: i32) {
    let (w, h) = (frame.width, frame.height);
    let centres = [
        (w / 4, h / 4),
        (3 * w / 4, h / 4),
        (w / 4, 3 * h / 4),
        (3 * w / 4, 3 * h / 4),
    ];
    for (expected, (x, y)) in quadrants(n).iter().zip(centres) {
        let got = frame.pixel(x, y).unwrap();
        for c in 0..3 {
            let diff = (i32::from(got[c]) - i32::from(expected[c])).abs();
            assert!(
                diff <= tolerance,
                "frame {n} at ({x},{y}): {got:?} vs {expected:?}"
            );
        }
    }
}

fn write_mjpeg(path: &Path, frames: u8) {
    let mut out = Vec::new();
    for n in 0..frames {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
            .encode_image(&picture(64, 48, n * 10))
            .unwrap();
    }
    std::fs::write(path, out).unwrap();
}

fn unpaced() -> FileOptions {
    FileOptions {
        fps: Some(10.0),
        paced: false,
        looped: false,
    }
}

#[test]
fn mjpeg_frames_decode_in_order_with_timestamps_and_loop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mjpeg");
    write_mjpeg(&path, 3);
    let mut source = FileSource::open(&path, &unpaced()).unwrap();
    assert_eq!(source.kind(), FileKind::Mjpeg);
    for n in 0..3 {
        let frame = source.next_frame().unwrap().unwrap();
        assert_eq!((frame.width, frame.height), (64, 48));
        assert_eq!(frame.timestamp, Duration::from_millis(100 * u64::from(n)));
        assert_quadrants(&frame, n * 10, 8);
    }
    assert!(source.next_frame().unwrap().is_none());

    let looped = FileOptions {
        looped: true,
        ..unpaced()
    };
    let mut source = FileSource::open(&path, &looped).unwrap();
    for i in 0..7u8 {
        let frame = source.next_frame().unwrap().unwrap();
        assert_quadrants(&frame, (i % 3) * 10, 8);
        assert_eq!(frame.timestamp, Duration::from_millis(100 * u64::from(i)));
    }
}

/// BT.601 limited range, as cameras send it.
fn yuv(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(f64::from);
    let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
    let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
    let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
    [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
}

fn write_y4m(path: &Path, colorspace: y4m::Colorspace, frames: u8) {
    let (w, h) = (64usize, 48usize);
    let (cw, ch) = match colorspace {
        y4m::Colorspace::C420jpeg => (w / 2, h / 2),
        y4m::Colorspace::C422 => (w / 2, h),
        y4m::Colorspace::Cmono => (0, 0),
        _ => (w, h),
    };
    let mut file = std::fs::File::create(path).unwrap();
    let mut encoder = y4m::EncoderBuilder::new(w, h, y4m::Ratio::new(25, 1))
        .with_colorspace(colorspace)
        .write_header(&mut file)
        .unwrap();
    for n in 0..frames {
        let img = picture(w as u32, h as u32, n * 10);
        let at = |x: usize, y: usize| yuv(img.get_pixel(x as u32, y as u32).0);
        let plane = |pw: usize, ph: usize, c: usize| -> Vec<u8> {
            (0..ph)
                .flat_map(|y| (0..pw).map(move |x| (x, y)))
                .map(|(x, y)| at(x * w / pw, y * h / ph)[c])
                .collect()
        };
        let (yp, up, vp) = (plane(w, h, 0), plane(cw, ch, 1), plane(cw, ch, 2));
        let planes: [&[u8]; 3] = if matches!(colorspace, y4m::Colorspace::Cmono) {
            [&yp, &[], &[]]
        } else {
            [&yp, &up, &vp]
        };
        encoder.write_frame(&y4m::Frame::new(planes, None)).unwrap();
    }
}

#[test]
fn y4m_in_every_8bit_layout_decodes_to_its_colours() {
    let dir = tempfile::tempdir().unwrap();
    for colorspace in [
        y4m::Colorspace::C420jpeg,
        y4m::Colorspace::C422,
        y4m::Colorspace::C444,
    ] {
        let path = dir.path().join(format!("{colorspace:?}.y4m"));
        write_y4m(&path, colorspace, 2);
        let mut source = FileSource::open(
            &path,
            &FileOptions {
                fps: None,
                ..unpaced()
            },
        )
        .unwrap();
        assert_eq!(source.kind(), FileKind::Y4m);
        assert_eq!(source.fps(), 25.0, "the file's own rate");
        for n in 0..2 {
            let frame = source.next_frame().unwrap().unwrap();
            assert_eq!((frame.width, frame.height), (64, 48));
            assert_eq!(frame.timestamp, Duration::from_millis(40 * u64::from(n)));
            assert_quadrants(&frame, n * 10, 6);
        }
        assert!(source.next_frame().unwrap().is_none(), "{colorspace:?}");
    }
    let path = dir.path().join("mono.y4m");
    write_y4m(&path, y4m::Colorspace::Cmono, 1);
    let frame = FileSource::open(&path, &unpaced())
        .unwrap()
        .next_frame()
        .unwrap()
        .unwrap();
    // Grey frames carry luma as it is: video black is 16.
    assert_eq!(frame.pixel(60, 40), Some([16; 3]));
    assert_eq!(frame.pixel(10, 10), Some([yuv([200, 30, 40])[0]; 3]));
}

#[test]
fn a_directory_of_stills_plays_png_and_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    picture(40, 30, 0).save(dir.path().join("a.png")).unwrap();
    picture(40, 30, 50).save(dir.path().join("b.jpg")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let mut source = FileSource::open(dir.path(), &unpaced()).unwrap();
    assert_eq!(source.kind(), FileKind::Stills);
    assert_quadrants(&source.next_frame().unwrap().unwrap(), 0, 0);
    assert_quadrants(&source.next_frame().unwrap().unwrap(), 50, 8);
    assert!(source.next_frame().unwrap().is_none());
}

#[test]
fn paced_sources_wait_like_a_camera() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mjpeg");
    write_mjpeg(&path, 2);
    let options = FileOptions {
        fps: Some(50.0),
        paced: true,
        looped: true,
    };
    let mut source = FileSource::open(&path, &options).unwrap();
    let started = Instant::now();
    let stamps: Vec<Duration> = (0..11)
        .map(|_| source.next_frame().unwrap().unwrap().timestamp)
        .collect();
    // Ten intervals of 20 ms cannot pass in less than 200 ms of wall time.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    for pair in stamps.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_millis(20));
    }
}

#[test]
fn broken_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.mjpeg");
    write_mjpeg(&path, 2);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let mut source = FileSource::open(&path, &unpaced()).unwrap();
    assert!(source.next_frame().unwrap().is_some());
    let err = source.next_frame().unwrap_err();
    assert!(matches!(err, CameraError::BadFile { .. }), "{err}");
    assert!(
        err.to_string().contains("cut.mjpeg") && err.to_string().contains("ends inside"),
        "{err}"
    );

    let path = dir.path().join("garbage.mjpeg");
    std::fs::write(&path, b"\xff\xd8\xff\xc0\x00\x11\x08 nonsense").unwrap();
    assert!(
        FileSource::open(&path, &unpaced())
            .unwrap()
            .next_frame()
            .is_err()
    );

    let path = dir.path().join("huge.y4m");
    std::fs::write(&path, b"YUV4MPEG2 W100000 H100000 F25:1 C420jpeg\nFRAME\n").unwrap();
    let err = FileSource::open(&path, &unpaced()).unwrap_err();
    assert!(err.to_string().contains("W100000"), "{err}");

    let path = dir.path().join("bad-frame.y4m");
    let mut y4m = b"YUV4MPEG2 W4 H2 F25:1 C420jpeg\nFRAME\n".to_vec();
    y4m.extend_from_slice(&[16; 12]);
    y4m.extend_from_slice(b"FRAMX\n");
    y4m.extend_from_slice(&[16; 12]);
    std::fs::write(&path, &y4m).unwrap();
    let mut source = FileSource::open(&path, &unpaced()).unwrap();
    assert!(source.next_frame().unwrap().is_some());
    let err = source.next_frame().unwrap_err();
    assert!(err.to_string().contains("bad-frame.y4m"), "{err}");
    // A clip cut inside its last frame ends there, as a cut stream does.
    std::fs::write(&path, &y4m[..y4m.len() - 16]).unwrap();
    let mut source = FileSource::open(&path, &unpaced()).unwrap();
    assert!(source.next_frame().unwrap().is_some());
    assert!(source.next_frame().unwrap().is_none());

    let path = dir.path().join("clip.avi");
    std::fs::write(&path, b"RIFF").unwrap();
    assert!(FileSource::open(&path, &unpaced()).is_err());
    assert!(FileSource::open(&dir.path().join("absent.mjpeg"), &unpaced()).is_err());
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        FileSource::open(empty.path(), &unpaced()),
        Err(CameraError::NoImages(_))
    ));
}

#[test]
fn camera_specs_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mjpeg");
    write_mjpeg(&path, 1);
    let spec: camera::CameraSpec = format!("file:{}", path.display()).parse().unwrap();
    let mut source = spec.open(&unpaced()).unwrap();
    assert_quadrants(&source.next_frame().unwrap().unwrap(), 0, 8);
}
