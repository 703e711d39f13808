//! Files standing in for a camera: an MJPEG file, a Y4M file, or a directory
//! of still images, optionally paced to a frame rate and looped. Each yields
//! [`RawFrame`]s in a camera wire format and decodes them through
//! [`RawFrame::decode`], the real camera's path.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mjpeg;
use crate::raw::{PixelFormat, RawFrame};
use crate::y4m;
use crate::{CameraError, Frame, FrameSource};

/// How a file source plays.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOptions {
    /// Frames a second for timestamps and pacing; `None` takes the file's own
    /// rate (Y4M) or 15.
    pub fps: Option<f64>,
    /// Wait between frames as a camera would, instead of as fast as read.
    pub paced: bool,
    /// Start again after the last frame.
    pub looped: bool,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            fps: None,
            paced: true,
            looped: false,
        }
    }
}

const DEFAULT_FPS: f64 = 15.0;
const STILL_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// What kind of file a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Mjpeg,
    Y4m,
    Stills,
}

/// A file or directory played as a camera.
pub struct FileSource {
    reader: Reader,
    path: PathBuf,
    interval: Duration,
    options: FileOptions,
    /// Frames served since the start, across loops: the clock of timestamps.
    served: u32,
    started: Option<Instant>,
}

/// Where MJPEG bytes come from: a file, or a clip held in memory.
trait MjpegInput: std::io::BufRead + Seek + Send {}
impl<T: std::io::BufRead + Seek + Send> MjpegInput for T {}

enum Reader {
    Mjpeg(Box<dyn MjpegInput>),
    Y4m {
        decoder: Box<y4m::Decoder<BufReader<File>>>,
        format: PixelFormat,
        width: u32,
        height: u32,
    },
    Stills {
        paths: Vec<PathBuf>,
        next: usize,
    },
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileSource({:?} {})", self.kind(), self.path.display())
    }
}

impl FileSource {
    /// Opens `path`: a directory of stills, a single still, a `.mjpeg`/`.mjpg`
    /// file or a `.y4m` file.
    pub fn open(path: &Path, options: &FileOptions) -> Result<Self, CameraError> {
        let bad = |message: String| CameraError::BadFile {
            path: path.display().to_string(),
            message,
        };
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let mut file_rate = None;
        let reader = if path.is_dir() {
            Reader::Stills {
                paths: stills_in(path)?,
                next: 0,
            }
        } else if STILL_EXTENSIONS.contains(&extension.as_str()) {
            Reader::Stills {
                paths: vec![path.to_owned()],
                next: 0,
            }
        } else {
            let file = File::open(path).map_err(|e| bad(e.to_string()))?;
            match extension.as_str() {
                "mjpeg" | "mjpg" => Reader::Mjpeg(Box::new(BufReader::new(file))),
                "y4m" => {
                    let (header, decoder) = y4m::open(BufReader::new(file)).map_err(bad)?;
                    file_rate = header.fps;
                    let format =
                        y4m::target_format(decoder.get_colorspace(), header.width, header.height)
                            .map_err(bad)?;
                    Reader::Y4m {
                        decoder: Box::new(decoder),
                        format,
                        width: header.width,
                        height: header.height,
                    }
                }
                _ => {
                    return Err(bad(
                        "not a camera file: use a directory of images, .mjpeg or .y4m".into(),
                    ));
                }
            }
        };
        Ok(Self::new(reader, path.to_owned(), file_rate, options))
    }

    /// An MJPEG clip held in memory, played as a camera (the demo camera).
    pub fn mjpeg_clip(clip: std::sync::Arc<[u8]>, options: &FileOptions) -> Self {
        let input = std::io::Cursor::new(ArcBytes(clip));
        Self::new(
            Reader::Mjpeg(Box::new(input)),
            PathBuf::from("(clip in memory)"),
            None,
            options,
        )
    }

    fn new(reader: Reader, path: PathBuf, file_rate: Option<f64>, options: &FileOptions) -> Self {
        let fps = options
            .fps
            .or(file_rate)
            .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1000.0)
            .unwrap_or(DEFAULT_FPS);
        Self {
            reader,
            path,
            interval: Duration::from_secs_f64(1.0 / fps),
            options: options.clone(),
            served: 0,
            started: None,
        }
    }

    pub fn kind(&self) -> FileKind {
        match self.reader {
            Reader::Mjpeg(_) => FileKind::Mjpeg,
            Reader::Y4m { .. } => FileKind::Y4m,
            Reader::Stills { .. } => FileKind::Stills,
        }
    }

    /// The frame rate timestamps and pacing follow.
    pub fn fps(&self) -> f64 {
        1.0 / self.interval.as_secs_f64()
    }

    fn bad(&self, message: String) -> CameraError {
        CameraError::BadFile {
            path: self.path.display().to_string(),
            message,
        }
    }

    /// The next frame in wire format, `None` at the end of the file.
    fn next_raw(&mut self) -> Result<Option<RawFrame>, CameraError> {
        let timestamp = self.interval * self.served;
        let raw = |format, width, height, bytes| RawFrame {
            format,
            width,
            height,
            bytes,
            timestamp,
        };
        match &mut self.reader {
            Reader::Mjpeg(input) => match mjpeg::next_jpeg(input) {
                Ok(Some(jpeg)) => Ok(Some(raw(PixelFormat::Mjpeg, 0, 0, jpeg))),
                Ok(None) => Ok(None),
                Err(e) => Err(self.bad(e.to_string())),
            },
            Reader::Y4m {
                decoder,
                format,
                width,
                height,
            } => match decoder.read_frame() {
                Ok(frame) => {
                    let bytes = y4m::repack(&frame, *format, *width);
                    Ok(Some(raw(*format, *width, *height, bytes)))
                }
                Err(::y4m::Error::EOF) => Ok(None),
                Err(e) => Err(self.bad(format!("bad frame: {e:?}"))),
            },
            Reader::Stills { paths, next } => {
                let Some(path) = paths.get(*next) else {
                    return Ok(None);
                };
                *next += 1;
                still(path, timestamp).map(Some)
            }
        }
    }

    fn rewind(&mut self) -> Result<(), CameraError> {
        match &mut self.reader {
            Reader::Stills { next, .. } => *next = 0,
            Reader::Mjpeg(input) => input.rewind().map_err(|e| self.bad(e.to_string()))?,
            Reader::Y4m { .. } => {
                let mut fresh = Self::open(&self.path, &self.options)?;
                std::mem::swap(&mut self.reader, &mut fresh.reader);
            }
        }
        Ok(())
    }

    fn pace(&mut self) {
        if !self.options.paced {
            return;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + self.interval * self.served;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

impl FrameSource for FileSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        let mut raw = self.next_raw()?;
        if raw.is_none() && self.options.looped && self.served > 0 {
            self.rewind()?;
            raw = self.next_raw()?;
        }
        let Some(raw) = raw else { return Ok(None) };
        self.pace();
        self.served += 1;
        raw.decode().map(Some)
    }
}

/// Shared bytes a `Cursor` can read.
struct ArcBytes(std::sync::Arc<[u8]>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn stills_in(dir: &Path) -> Result<Vec<PathBuf>, CameraError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CameraError::BadFile {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| STILL_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    if paths.is_empty() {
        return Err(CameraError::NoImages(dir.display().to_string()));
    }
    paths.sort();
    Ok(paths)
}

/// A still as a camera frame: JPEGs go through the MJPEG path as they are;
/// other formats are decoded here and enter as raw RGB.
fn still(path: &Path, timestamp: Duration) -> Result<RawFrame, CameraError> {
    let bad = |message: String| CameraError::BadFile {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(RawFrame {
            format: PixelFormat::Mjpeg,
            width: 0,
            height: 0,
            bytes,
            timestamp,
        });
    }
    let image = image::load_from_memory(&bytes)
        .map_err(|e| bad(e.to_string()))?
        .into_rgb8();
    Ok(RawFrame {
        format: PixelFormat::Rgb,
        width: image.width(),
        height: image.height(),
        bytes: image.into_raw(),
        timestamp,
    })
}
