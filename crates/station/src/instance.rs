//! One app per data directory: the first instance holds a lock on
//! `app.lock` for its whole life and listens on a Unix socket beside it
//! (`app.sock`); a later start finds the lock taken, asks the first over
//! the socket to show its window, and ends. The lock, not the socket,
//! decides who is first, so a slow answer or two starts at the same moment
//! never make two apps; a socket file left by an instance that died is
//! simply replaced by the next one to get the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

/// The socket's name in the data directory.
pub const SOCKET: &str = "app.sock";
/// The lock file's name in the data directory.
pub const LOCK: &str = "app.lock";
/// The one request a later start sends.
const SHOW: &str = "show";
/// How long a later start waits for the first to answer one request.
const ANSWER: Duration = Duration::from_secs(2);
/// How long a later start keeps trying: the first may still be starting.
const HAND_OVER: Duration = Duration::from_secs(10);
/// Longest line read from the socket: requests and answers are one word.
const MAX_LINE: u64 = 64;

/// This process is the station's app: it holds the lock and the socket.
#[derive(Debug)]
pub struct Instance {
    listener: UnixListener,
    path: PathBuf,
    /// Held until the process ends; the OS releases it even after a crash.
    _lock: File,
}

/// What starting found.
#[derive(Debug)]
pub enum Start {
    /// No other instance: this one is it.
    First(Instance),
    /// Another instance runs and was asked to show its window.
    HandedOver,
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::new(Code::DataDirUnavailable, format!("{}: {e}", path.display()))
}

/// One line of at most [`MAX_LINE`] bytes.
fn read_word(stream: impl std::io::Read) -> Option<String> {
    let mut line = String::new();
    BufReader::new(stream.take(MAX_LINE))
        .read_line(&mut line)
        .ok()?;
    Some(line.trim().to_owned())
}

/// Asks a running instance to show itself; true if one answered.
fn hand_over(path: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(ANSWER));
    let _ = stream.set_write_timeout(Some(ANSWER));
    writeln!(stream, "{SHOW}").is_ok() && read_word(stream).as_deref() == Some("ok")
}

/// Becomes the station's app, or hands over to the one already running.
pub fn start(paths: &StationPaths) -> Result<Start, Failure> {
    paths.ensure_data_dir()?;
    let socket = paths.data_dir.join(SOCKET);
    let lock_path = paths.data_dir.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| unavailable(&lock_path, e))?;
    let deadline = Instant::now() + HAND_OVER;
    loop {
        match lock.try_lock() {
            Ok(()) => {
                // Nobody else holds the lock: a socket file is a dead
                // instance's.
                match std::fs::remove_file(&socket) {
                    Ok(()) => tracing::info!("a stale {SOCKET} was replaced"),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(unavailable(&socket, e)),
                }
                let listener = UnixListener::bind(&socket).map_err(|e| unavailable(&socket, e))?;
                return Ok(Start::First(Instance {
                    listener,
                    path: socket,
                    _lock: lock,
                }));
            }
            Err(TryLockError::WouldBlock) => {
                if hand_over(&socket) {
                    return Ok(Start::HandedOver);
                }
                if Instant::now() >= deadline {
                    return Err(unavailable(
                        &lock_path,
                        "another app holds this data folder but does not answer",
                    ));
                }
                // The first may not be listening yet.
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::Error(e)) => return Err(unavailable(&lock_path, e)),
        }
    }
}

impl Instance {
    /// Answers later starts on a thread of its own: `show` is called for
    /// each. Anything else on the socket is ignored.
    pub fn serve(self, show: impl Fn() + Send + 'static) -> Result<(), Failure> {
        let path = self.path.clone();
        std::thread::Builder::new()
            .name("single-instance".into())
            .spawn(move || {
                // Captured so the lock lives as long as the listener.
                let _lock = &self._lock;
                for stream in self.listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(ANSWER));
                    let _ = stream.set_write_timeout(Some(ANSWER));
                    let asked = stream.try_clone().ok().and_then(read_word);
                    if asked.as_deref() == Some(SHOW) {
                        tracing::info!("another start asked for the window");
                        // Answered first: showing the window waits for the
                        // GUI thread, and the asker must not time out.
                        let _ = writeln!(stream, "ok");
                        show();
                    }
                }
            })
            .map(drop)
            .map_err(|e| unavailable(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> StationPaths {
        StationPaths {
            data_dir: dir.join("station"),
            models_dir: dir.join("models"),
        }
    }

    #[test]
    fn a_second_start_hands_over_and_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        // A socket file nobody listens on, as a killed instance leaves it.
        std::fs::create_dir_all(&paths.data_dir).unwrap();
        drop(UnixListener::bind(paths.data_dir.join(SOCKET)).unwrap());
        let Start::First(first) = start(&paths).unwrap() else {
            panic!("the stale socket was taken for a running instance");
        };
        // A later start while the first is not answering yet waits for it
        // rather than taking the data folder over.
        let later = {
            let paths = paths.clone();
            std::thread::spawn(move || start(&paths).unwrap())
        };
        std::thread::sleep(Duration::from_millis(500));
        let (tx, rx) = std::sync::mpsc::channel();
        first.serve(move || tx.send(()).unwrap()).unwrap();
        assert!(matches!(later.join().unwrap(), Start::HandedOver));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // A line without end is cut off and ignored.
        let mut noise = UnixStream::connect(paths.data_dir.join(SOCKET)).unwrap();
        let _ = noise.write_all(&[b'x'; 100_000]);
        drop(noise);
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        assert!(matches!(start(&paths).unwrap(), Start::HandedOver));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(start(&paths).unwrap(), Start::HandedOver));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
