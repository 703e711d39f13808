//! Test support for the station's real test bed.
//!
//! `scripts/testbed.sh start` brings up pcscd with the vpcd virtual readers, a
//! private PulseAudio server with the `virtmic` virtual microphone, and Xvfb,
//! and prints the environment that points clients at them. Tests call
//! [`require`] before they touch a service: on a developer machine a missing
//! service skips the test with a note; under CI (`CI=true`) it fails the test,
//! so a broken test bed can never pass as green.
#![forbid(unsafe_code)]

pub mod hub;
pub mod packets;

use std::path::{Path, PathBuf};

/// A service of the test bed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// pcscd with the vpcd driver listening for virtual cards.
    Pcscd,
    /// The private PulseAudio server with the `virtmic` source.
    PulseAudio,
    /// An X display (Xvfb under test).
    Display,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Pcscd => "pcscd with the vpcd virtual readers",
            Service::PulseAudio => "the private PulseAudio server (PULSE_SERVER)",
            Service::Display => "an X display (DISPLAY)",
        }
    }
}

/// Whether tests run under CI, where nothing may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns whether `service` is up. When it is not: panics under CI, and
/// otherwise prints why the calling test is skipped.
pub fn require(service: Service) -> bool {
    match check(service) {
        Ok(()) => true,
        Err(why) => {
            let msg = format!(
                "{} is not available ({why}); start the test bed with `scripts/testbed.sh start` \
                 and load its environment, or run everything with `scripts/test.sh`",
                service.name()
            );
            if under_ci() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            false
        }
    }
}

/// Checks one service without side effects.
pub fn check(service: Service) -> Result<(), String> {
    match service {
        Service::Pcscd => {
            let socket = pcscd_socket();
            if !socket.exists() {
                return Err(format!("no socket at {}", socket.display()));
            }
            for port in VPCD_PORTS {
                // Never probe vpcd by connecting: a connection *is* a card.
                if !tcp_listening(port) {
                    return Err(format!("nothing listens on vpcd port {port}"));
                }
            }
            Ok(())
        }
        Service::PulseAudio => {
            let server = std::env::var("PULSE_SERVER").map_err(|_| "PULSE_SERVER is not set")?;
            let path = server.strip_prefix("unix:").unwrap_or(&server);
            if Path::new(path).exists() {
                Ok(())
            } else {
                Err(format!("no socket at {path}"))
            }
        }
        Service::Display => {
            let display = std::env::var("DISPLAY").map_err(|_| "DISPLAY is not set")?;
            let number = display
                .trim_start_matches(|c: char| c != ':')
                .trim_start_matches(':')
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned();
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
            if socket.exists() {
                Ok(())
            } else {
                Err(format!("no X socket at {}", socket.display()))
            }
        }
    }
}

/// The TCP ports of pcscd's two vpcd readers.
pub const VPCD_PORTS: [u16; 2] = [35963, 35964];

/// Where pcsc-lite's clients find pcscd.
pub fn pcscd_socket() -> PathBuf {
    std::env::var_os("PCSCLITE_CSOCK_NAME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/pcscd/pcscd.comm"))
}

/// Whether some socket on this machine listens on TCP `port` (IPv4 or IPv6),
/// read from /proc so the check never opens a connection.
pub fn tcp_listening(port: u16) -> bool {
    const LISTEN: &str = "0A";
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                cols.len() > 3
                    && cols[3] == LISTEN
                    && cols[1]
                        .rsplit(':')
                        .next()
                        .and_then(|p| u16::from_str_radix(p, 16).ok())
                        == Some(port)
            })
        })
    })
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Writes `text` spoken by espeak-ng's `voice` (e.g. `en`, `en+f3`,
/// `cmn`) to the WAV file `out`: real speech for the voice tests.
pub fn speak(voice: &str, text: &str, out: &Path) -> std::io::Result<()> {
    espeak(&["-v", voice], text, out)
}

/// English `text` read at the pace of a citizen reading digits to a clerk,
/// a short pause after each word, to the WAV file `out`. At espeak-ng's
/// default pace six digits take under two seconds, less speech than
/// anyone gives at a counter and than a voice sample needs.
pub fn read_aloud(text: &str, out: &Path) -> std::io::Result<()> {
    espeak(&["-v", "en", "-s", "150", "-g", "10"], text, out)
}

/// espeak-ng with `options`, `text` written to the WAV file `out`.
fn espeak(options: &[&str], text: &str, out: &Path) -> std::io::Result<()> {
    run(std::process::Command::new("espeak-ng")
        .args(options)
        .arg("-w")
        .arg(out)
        .arg(text))
}

/// Plays a WAV file into the virtual microphone's sink and waits until it
/// has been played; whatever records from `virtmic` meanwhile hears it.
pub fn play_into_microphone(wav: &Path) -> std::io::Result<()> {
    run(std::process::Command::new("paplay")
        .arg("--device=virtmic_sink")
        .arg(wav))
}

fn run(command: &mut std::process::Command) -> std::io::Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("{program} cannot run ({e}); scripts/setup.sh installs it"),
        )
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_listening_port_and_not_a_closed_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(tcp_listening(port));
        drop(listener);
        assert!(!tcp_listening(port));
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().unwrap();
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
