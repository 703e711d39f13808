//! One app per data directory: the first instance listens on a Unix
//! socket in the data directory (`app.sock`); a later start connects,
//! asks the first to show its window, and ends. A socket left by an
//! instance that died is found stale (nobody answers) and replaced.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

/// The socket's name in the data directory.
pub const SOCKET: &str = "app.sock";
/// The one request a later start sends.
const SHOW: &str = "show";
/// How long a later start waits for the first to answer.
const ANSWER: Duration = Duration::from_secs(2);

/// This process is the station's app: it holds the socket.
#[derive(Debug)]
pub struct Instance {
    listener: UnixListener,
    path: PathBuf,
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

/// Asks a running instance to show itself; true if one answered.
fn hand_over(path: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(ANSWER));
    let _ = stream.set_write_timeout(Some(ANSWER));
    if writeln!(stream, "{SHOW}").is_err() {
        return false;
    }
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).is_ok() && answer.trim() == "ok"
}

/// Becomes the station's app, or hands over to the one already running.
pub fn start(paths: &StationPaths) -> Result<Start, Failure> {
    paths.ensure_data_dir()?;
    let path = paths.data_dir.join(SOCKET);
    // Twice: two starts at the same moment may both find the socket
    // stale; the one that loses the bind hands over to the winner.
    for _ in 0..2 {
        if hand_over(&path) {
            return Ok(Start::HandedOver);
        }
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!("a stale {SOCKET} was replaced"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unavailable(&path, e)),
        }
        match UnixListener::bind(&path) {
            Ok(listener) => return Ok(Start::First(Instance { listener, path })),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(unavailable(&path, e)),
        }
    }
    Err(unavailable(&path, "another start holds the socket"))
}

impl Instance {
    /// Answers later starts on a thread of its own: `show` is called for
    /// each. Anything else on the socket is ignored.
    pub fn serve(self, show: impl Fn() + Send + 'static) -> Result<(), Failure> {
        let path = self.path.clone();
        std::thread::Builder::new()
            .name("single-instance".into())
            .spawn(move || {
                for stream in self.listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(ANSWER));
                    let mut request = String::new();
                    let asked = match stream.try_clone() {
                        Ok(s) => BufReader::new(s).read_line(&mut request).is_ok(),
                        Err(_) => false,
                    };
                    if asked && request.trim() == SHOW {
                        tracing::info!("another start asked for the window");
                        show();
                        let _ = writeln!(stream, "ok");
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
        let (tx, rx) = std::sync::mpsc::channel();
        first.serve(move || tx.send(()).unwrap()).unwrap();
        assert!(matches!(start(&paths).unwrap(), Start::HandedOver));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(start(&paths).unwrap(), Start::HandedOver));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
