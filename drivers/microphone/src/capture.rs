//! Live capture from a cpal input device.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use crate::{AudioError, AudioFormat, AudioSource, TARGET_RATE};

/// Chunks buffered between the audio callback and the reader: about two
/// seconds at typical period sizes. Beyond that chunks are dropped and
/// counted, so a stalled reader never grows memory.
const QUEUE_CHUNKS: usize = 200;

/// A device that has delivered nothing for this long is gone.
const STALL: Duration = Duration::from_secs(3);

/// How long opening a stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

enum Message {
    Samples(Vec<f32>),
    Failed(String),
}

/// An open input device, capturing into a bounded queue.
///
/// The cpal stream lives inside this value and stops when it is dropped.
pub struct Microphone {
    name: String,
    format: AudioFormat,
    rx: Receiver<Message>,
    dropped: Arc<AtomicU64>,
    _stream: cpal::Stream,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("dropped_chunks", &self.dropped_chunks())
            .finish()
    }
}

impl Microphone {
    /// Opens `device_id` (as [`crate::list_inputs`] reports it), or the
    /// default input when `None`, at 16 kHz mono when the device offers it
    /// and at its own format otherwise; capture starts at once.
    pub fn open(device_id: Option<&str>) -> Result<Self, AudioError> {
        let host = crate::devices::host()?;
        let device = match device_id {
            None => host.default_input_device().ok_or(AudioError::NoDevice)?,
            Some(id) => {
                let parsed: cpal::DeviceId = id
                    .parse()
                    .map_err(|_| AudioError::UnknownDevice(id.to_owned()))?;
                host.device_by_id(&parsed)
                    .ok_or_else(|| AudioError::UnknownDevice(id.to_owned()))?
            }
        };
        let name = device
            .description()
            .map(|d| d.name().to_owned())
            .unwrap_or_else(|_| "input".to_owned());
        let supported = choose_config(&device).map_err(|e| open_error(&name, &e))?;
        let mut config = supported.config();
        // Small fragments: left to the server, PulseAudio delivers captured
        // audio in chunks of about two seconds, and the level meter stalls.
        let frames = config.sample_rate / 50;
        if let cpal::SupportedBufferSize::Range { min, max } = *supported.buffer_size()
            && (min..=max).contains(&frames)
        {
            config.buffer_size = cpal::BufferSize::Fixed(frames);
        }
        let format = AudioFormat {
            sample_rate: config.sample_rate,
            source_channels: config.channels,
        };
        let (tx, rx) = sync_channel(QUEUE_CHUNKS);
        let dropped = Arc::new(AtomicU64::new(0));
        let stream = match supported.sample_format() {
            SampleFormat::F32 => build::<f32>(&device, config, tx, dropped.clone()),
            SampleFormat::I16 => build::<i16>(&device, config, tx, dropped.clone()),
            SampleFormat::I32 => build::<i32>(&device, config, tx, dropped.clone()),
            SampleFormat::U8 => build::<u8>(&device, config, tx, dropped.clone()),
            SampleFormat::U16 => build::<u16>(&device, config, tx, dropped.clone()),
            other => Err(AudioError::UnsupportedFormat(format!(
                "device sample format {other}"
            ))),
        }?;
        stream.play().map_err(|e| open_error(&name, &e))?;
        tracing::debug!(device = %name, rate = format.sample_rate, channels = format.source_channels, "capture started");
        Ok(Self {
            name,
            format,
            rx,
            dropped,
            _stream: stream,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Chunks lost because the reader fell behind.
    pub fn dropped_chunks(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl AudioSource for Microphone {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        match self.rx.recv_timeout(STALL) {
            Ok(Message::Samples(chunk)) => Ok(Some(chunk)),
            Ok(Message::Failed(message)) => Err(AudioError::DeviceLost(message)),
            Err(RecvTimeoutError::Timeout) => Err(AudioError::DeviceLost(format!(
                "{} delivered no audio for {} s",
                self.name,
                STALL.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(AudioError::DeviceLost(format!("{} stopped", self.name)))
            }
        }
    }
}

/// 16 kHz mono when any configuration allows it (no resampling then),
/// otherwise the device's default.
fn choose_config(device: &cpal::Device) -> Result<cpal::SupportedStreamConfig, cpal::Error> {
    let preferred = device.supported_input_configs().ok().and_then(|configs| {
        let mut exact: Vec<_> = configs
            .filter(|c| c.channels() == 1)
            .filter(|c| c.min_sample_rate() <= TARGET_RATE && TARGET_RATE <= c.max_sample_rate())
            .filter(|c| c.sample_format().is_float() || c.sample_format().is_int())
            .collect();
        // Float first: no scaling to get wrong.
        exact.sort_by_key(|c| !c.sample_format().is_float());
        exact
            .into_iter()
            .next()
            .and_then(|c| c.try_with_sample_rate(TARGET_RATE))
    });
    match preferred {
        Some(config) => Ok(config),
        None => device.default_input_config(),
    }
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let errors = tx.clone();
    device
        .build_input_stream::<T, _, _>(
            config,
            move |data: &[T], _| {
                let mono: Vec<f32> = data
                    .chunks_exact(channels)
                    .map(|frame| {
                        frame.iter().map(|&s| f32::from_sample_(s)).sum::<f32>() / channels as f32
                    })
                    .collect();
                match tx.try_send(Message::Samples(mono)) {
                    Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                    Err(TrySendError::Full(_)) => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
            move |err| {
                // Only fatal kinds end the recording; a re-route keeps going.
                if err.kind() != cpal::ErrorKind::DeviceChanged {
                    let _ = errors.try_send(Message::Failed(err.to_string()));
                }
            },
            // A hung audio server fails the open instead of blocking it.
            Some(OPEN_TIMEOUT),
        )
        .map_err(|e| open_error("input", &e))
}

/// Errors while opening: a device that is not there is no device (the
/// same kind during a recording means it was lost).
fn open_error(name: &str, e: &cpal::Error) -> AudioError {
    match e.kind() {
        cpal::ErrorKind::DeviceBusy => AudioError::Busy(name.to_owned()),
        cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::HostUnavailable => {
            AudioError::NoDevice
        }
        _ => AudioError::Open(format!("{name}: {e}")),
    }
}
