//! The real path: a virtual card in pcscd's vpcd reader, reached through PC/SC.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use card::events::{CardEvent, Monitor};
use card::reader::{ReaderError, Readers};
use card::vpcd::{ServeEnd, VpcdBridge};
use card::{CardChannel, CommandApdu, StatusWord, TransmitError, VirtualCard};
use testbed::Service;

/// Answers SELECT with 9000 and echoes everything else reversed.
struct Mirror;

impl VirtualCard for Mirror {
    fn atr(&self) -> Vec<u8> {
        vec![
            0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
        ]
    }
    fn reset(&mut self) {}
    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        match CommandApdu::parse(command) {
            Ok(c) if c.ins == 0xA4 => StatusWord::SUCCESS.to_bytes().to_vec(),
            Ok(c) => {
                let mut r: Vec<u8> = c.data.iter().rev().copied().collect();
                r.extend_from_slice(&[0x90, 0x00]);
                r
            }
            Err(_) => StatusWord::WRONG_LENGTH.to_bytes().to_vec(),
        }
    }
}

/// The second vpcd reader (port 35964), so this test never races the card
/// tests of other crates that use the first.
const PORT: u16 = 35964;

/// The tests of this file take turns at the reader.
static READER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn vpcd_reader_name(readers: &Readers) -> String {
    readers
        .list()
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .find(|n| n.contains("Virtual PCD") && n.ends_with("01"))
        .expect("pcscd lists the second vpcd reader")
}

/// This test's turn at the second vpcd reader, a PC/SC context and the
/// reader's name; `None` when the test bed has no pcscd (a skip, or a
/// failure under CI).
fn second_reader() -> Option<(std::sync::MutexGuard<'static, ()>, Readers, String)> {
    if !testbed::require(Service::Pcscd) {
        return None;
    }
    let turn = READER.lock().unwrap_or_else(|e| e.into_inner());
    let readers = Readers::establish().unwrap();
    let name = vpcd_reader_name(&readers);
    // The card of the test before may still show in pcscd for a moment: a
    // card put in before pcscd has seen it go would be taken for it.
    assert!(
        readers
            .wait_for_removal(&name, Duration::from_secs(10))
            .unwrap(),
        "the card of an earlier test is still in {name}"
    );
    Some((turn, readers, name))
}

/// A card being served into the second vpcd reader.
type Served = std::thread::JoinHandle<(ServeEnd, card::vpcd::ServeStats)>;

/// Puts a [`Mirror`] card into the second vpcd reader until the returned
/// flag is raised; the thread ends with how serving ended.
fn insert_mirror() -> (Arc<AtomicBool>, Served) {
    let stop = Arc::new(AtomicBool::new(false));
    let card_stop = stop.clone();
    let card = std::thread::spawn(move || {
        let mut bridge = VpcdBridge::connect(("127.0.0.1", PORT)).unwrap();
        let end = bridge.serve(&mut Mirror, &card_stop).unwrap();
        (end, bridge.stats())
    });
    (stop, card)
}

#[test]
fn virtual_card_answers_through_pcscd() {
    let Some((_turn, readers, name)) = second_reader() else {
        return;
    };

    let (stop, card) = insert_mirror();

    assert!(
        readers
            .wait_for_card(&name, Duration::from_secs(5))
            .unwrap()
    );
    let status = readers
        .list()
        .unwrap()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap();
    assert!(status.card_present);
    assert_eq!(status.atr.as_deref(), Some("3B888001000000000000000009"));

    let mut channel = readers.connect(&name).unwrap();
    let r = channel
        .transmit(&CommandApdu::new(0, 0xA4, 4, 0x0C).with_data(vec![0xA0, 0, 0, 2, 0x47, 0x10, 1]))
        .unwrap();
    assert_eq!(r.sw, StatusWord::SUCCESS);
    // An extended-length command crosses pcscd and vpcd intact.
    let payload: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let r = channel
        .transmit(
            &CommandApdu::new(0, 0xD6, 0, 0)
                .with_data(payload.clone())
                .with_le(65_536),
        )
        .unwrap();
    let expected: Vec<u8> = payload.iter().rev().copied().collect();
    assert_eq!(r.data, expected);

    // Pull the card: the next exchange reports removal, not garbage.
    stop.store(true, Ordering::Release);
    let (end, stats) = card.join().unwrap();
    assert_eq!(end, ServeEnd::Stopped);
    assert!(stats.apdus >= 2);
    let err = channel
        .transmit(&CommandApdu::new(0, 0xB0, 0, 0).with_le(4))
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransmitError::CardRemoved | TransmitError::Transport(_)
        ),
        "{err:?}"
    );
    drop(channel);
    std::thread::sleep(Duration::from_millis(200));
    match readers.connect(&name) {
        Err(ReaderError::NoCard(_)) => {}
        other => panic!("expected no card after removal, got {other:?}"),
    }
}

/// The next event about `reader`, skipping the other readers' events.
fn next_event(monitor: &Monitor, reader: &str) -> CardEvent {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match monitor.recv_timeout(left) {
            Some(
                CardEvent::CardInserted { reader: r, .. }
                | CardEvent::CardRemoved { reader: r }
                | CardEvent::ReaderAdded { reader: r }
                | CardEvent::ReaderRemoved { reader: r },
            ) if r != reader => continue,
            Some(event) => return event,
            None => break,
        }
    }
    panic!("no event for {reader} within 10 s")
}

#[test]
fn insertion_and_removal_arrive_as_events_in_order() {
    let Some((_turn, readers, name)) = second_reader() else {
        return;
    };
    // A card an earlier test pulled may take pcscd a poll to notice.
    assert!(
        readers
            .wait_for_removal(&name, Duration::from_secs(5))
            .unwrap()
    );
    let monitor = Monitor::start().unwrap();
    // vpcd's readers are fixed while pcscd runs: both are there, ours empty.
    let initial = monitor.initial();
    assert!(
        initial.iter().any(|r| r.name == name && !r.card_present),
        "{initial:?}"
    );
    assert!(initial.len() >= 2, "{initial:?}");

    for round in 0..2 {
        let (stop, card) = insert_mirror();
        assert_eq!(
            next_event(&monitor, &name),
            CardEvent::CardInserted {
                reader: name.clone(),
                atr: "3B888001000000000000000009".into(),
            },
            "round {round}"
        );
        stop.store(true, Ordering::Release);
        assert_eq!(card.join().unwrap().0, ServeEnd::Stopped);
        assert_eq!(
            next_event(&monitor, &name),
            CardEvent::CardRemoved {
                reader: name.clone()
            },
            "round {round}"
        );
    }
    // Stopping cancels the wait and joins the thread; nothing is left over.
    monitor.stop();
}

#[test]
fn a_card_held_by_another_program_is_connected_once_it_is_let_go() {
    let Some((_turn, readers, name)) = second_reader() else {
        return;
    };
    let (stop, card) = insert_mirror();
    assert!(
        readers
            .wait_for_card(&name, Duration::from_secs(5))
            .unwrap()
    );

    // Another program (its own PC/SC context) holds the card exclusively.
    let other = Readers::establish().unwrap();
    let held = other.connect(&name).unwrap();
    assert!(matches!(readers.connect(&name), Err(ReaderError::Busy(_))));
    assert!(matches!(
        readers.connect_patiently(&name, Duration::from_millis(300)),
        Err(ReaderError::Busy(_))
    ));
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        drop(held);
    });
    let mut channel = readers
        .connect_patiently(&name, Duration::from_secs(5))
        .unwrap();
    release.join().unwrap();
    let r = channel
        .transmit(&CommandApdu::new(0, 0xA4, 4, 0x0C).with_data(vec![0xA0, 0, 0, 2, 0x47, 0x10, 1]))
        .unwrap();
    assert_eq!(r.sw, StatusWord::SUCCESS);
    drop(channel);
    stop.store(true, Ordering::Release);
    assert_eq!(card.join().unwrap().0, ServeEnd::Stopped);
    std::thread::sleep(Duration::from_millis(300));
}
