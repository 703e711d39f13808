//! The bridge that puts a [`VirtualCard`] into pcscd's virtual reader.
//!
//! vsmartcard's `vpcd` driver listens inside pcscd (port 35963 for the first
//! virtual reader, 35964 for the second); a virtual card connects to it as a
//! TCP client. Every message is a 2-byte big-endian length followed by the
//! payload. A 1-byte payload is a control code (0 power off, 1 power on,
//! 2 reset, 4 ATR request); anything else is a command APDU, answered with
//! the response APDU. Closing the connection removes the card from the reader.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use thiserror::Error;

use crate::VirtualCard;

/// The port of pcscd's first vpcd reader.
pub const DEFAULT_PORT: u16 = 35963;

/// How often a waiting bridge looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Error)]
pub enum VpcdError {
    #[error("cannot connect to the virtual reader at {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("the virtual reader connection failed: {0}")]
    Io(#[from] io::Error),
}

/// How a [`VpcdBridge::serve`] session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeEnd {
    /// The stop flag was raised; the card has been pulled from the reader.
    Stopped,
    /// pcscd closed the connection (pcscd stopped or the driver reloaded).
    ReaderClosed,
}

/// Counters of one serving session, for diagnostics and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServeStats {
    pub apdus: u64,
    pub resets: u64,
}

/// One virtual card inserted into one vpcd reader.
#[derive(Debug)]
pub struct VpcdBridge {
    stream: TcpStream,
    stats: ServeStats,
}

impl VpcdBridge {
    /// Inserts a card into the vpcd reader listening at `addr`.
    pub fn connect(addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<Self, VpcdError> {
        let describe = format!("{addr:?}");
        let stream = TcpStream::connect(addr).map_err(|source| VpcdError::Connect {
            addr: describe,
            source,
        })?;
        // Without this every response waits for Nagle's timer (~40 ms an APDU).
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
        Ok(Self {
            stream,
            stats: ServeStats::default(),
        })
    }

    pub fn stats(&self) -> ServeStats {
        self.stats
    }

    /// Answers the reader until `stop` is raised or the reader goes away.
    /// Raising `stop` mid-session is a card pulled from the reader.
    pub fn serve(
        &mut self,
        card: &mut dyn VirtualCard,
        stop: &AtomicBool,
    ) -> Result<ServeEnd, VpcdError> {
        let mut header = [0u8; 2];
        let mut payload = Vec::new();
        loop {
            if !self.read_full(&mut header, stop, true)? {
                return self.end(stop);
            }
            let len = u16::from_be_bytes(header) as usize;
            payload.resize(len, 0);
            if !self.read_full(&mut payload, stop, false)? {
                return self.end(stop);
            }
            match payload.as_slice() {
                [0] | [1] | [2] => {
                    // Power off, power on and reset all end the chip session.
                    card.reset();
                    self.stats.resets += 1;
                }
                [4] => {
                    let atr = card.atr();
                    self.send(&atr)?;
                }
                [_] => {
                    tracing::warn!(code = payload[0], "unknown vpcd control code ignored");
                }
                command => {
                    let response = card.process(command);
                    self.stats.apdus += 1;
                    self.send(&response)?;
                }
            }
        }
    }

    fn end(&mut self, stop: &AtomicBool) -> Result<ServeEnd, VpcdError> {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        Ok(if stop.load(Ordering::Acquire) {
            ServeEnd::Stopped
        } else {
            ServeEnd::ReaderClosed
        })
    }

    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let len = u16::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "response over 65535 bytes"))?;
        let mut frame = Vec::with_capacity(payload.len() + 2);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame)
    }

    /// Fills `buf`; returns false when the session is over (stop raised, or the
    /// peer closed the connection at a message boundary).
    fn read_full(
        &mut self,
        buf: &mut [u8],
        stop: &AtomicBool,
        at_boundary: bool,
    ) -> Result<bool, VpcdError> {
        let mut filled = 0;
        while filled < buf.len() {
            if stop.load(Ordering::Acquire) {
                return Ok(false);
            }
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 && at_boundary => return Ok(false),
                Ok(0) => {
                    return Err(VpcdError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "reader closed the connection mid-message",
                    )));
                }
                Ok(n) => {
                    filled += n;
                    acknowledge_now(&self.stream);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionReset && at_boundary && filled == 0 =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}

/// vpcd in pcscd writes a message's length and its body separately, with
/// Nagle's algorithm on: the body waits for our ACK of the length, which
/// Linux delays by up to 40 ms. Quick-ACK mode (re-armed after every read,
/// as the kernel leaves it on its own) takes that delay out of every APDU.
#[cfg(target_os = "linux")]
fn acknowledge_now(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn acknowledge_now(_stream: &TcpStream) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    struct Echo {
        resets: usize,
    }

    impl VirtualCard for Echo {
        fn atr(&self) -> Vec<u8> {
            vec![0x3B, 0x80, 0x80, 0x01, 0x01]
        }
        fn reset(&mut self) {
            self.resets += 1;
        }
        fn process(&mut self, command: &[u8]) -> Vec<u8> {
            let mut r = command.to_vec();
            r.extend_from_slice(&[0x90, 0x00]);
            r
        }
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    type Served = (ServeEnd, usize, ServeStats);

    /// Inserts an `Echo` card into a local stand-in for the vpcd reader;
    /// returns the reader's end of the socket, the stop flag and the card.
    fn insert_echo() -> (
        std::net::TcpStream,
        std::sync::Arc<AtomicBool>,
        std::thread::JoinHandle<Served>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let card_stop = stop.clone();
        let card = std::thread::spawn(move || {
            let mut bridge = VpcdBridge::connect(addr).unwrap();
            let mut card = Echo { resets: 0 };
            let end = bridge.serve(&mut card, &card_stop).unwrap();
            (end, card.resets, bridge.stats())
        });
        let (reader, _) = listener.accept().unwrap();
        (reader, stop, card)
    }

    /// Plays the reader's side of the framing over a local socket.
    #[test]
    fn speaks_the_vpcd_framing() {
        let (mut reader, stop, card) = insert_echo();
        reader.write_all(&frame(&[1])).unwrap(); // power on
        reader.write_all(&frame(&[4])).unwrap(); // ATR?
        let mut buf = [0u8; 7];
        reader.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [0, 5, 0x3B, 0x80, 0x80, 0x01, 0x01]);
        // An APDU split over two writes still arrives whole.
        let apdu = frame(&[0x00, 0xA4, 0x04, 0x0C]);
        reader.write_all(&apdu[..3]).unwrap();
        reader.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        reader.write_all(&apdu[3..]).unwrap();
        let mut buf = [0u8; 8];
        reader.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [0, 6, 0x00, 0xA4, 0x04, 0x0C, 0x90, 0x00]);
        reader.write_all(&frame(&[2])).unwrap(); // reset
        drop(reader);
        let (end, resets, stats) = card.join().unwrap();
        assert_eq!(end, ServeEnd::ReaderClosed);
        assert_eq!(resets, 2);
        assert_eq!(stats.apdus, 1);
        assert!(!stop.load(Ordering::Acquire));
    }

    #[test]
    fn stop_flag_pulls_the_card() {
        let (mut reader, stop, card) = insert_echo();
        stop.store(true, Ordering::Release);
        assert_eq!(card.join().unwrap().0, ServeEnd::Stopped);
        // The reader sees the card go away as end of stream.
        let mut buf = [0u8; 1];
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
    }
}
