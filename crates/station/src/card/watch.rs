//! The readers and their cards while the app is open: the driver's
//! [`card::events::Monitor`] on a thread of its own, its events folded
//! into one [`ReaderBoard`] published on a `watch` channel. The app
//! forwards each change to the window; nothing here knows the window.
//!
//! When the smart-card service is missing or goes away, the board says
//! so with the catalogue's failure and the monitor is started again after
//! a pause, so a restarted pcscd is picked up without restarting the app.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use card::events::{CardEvent, Monitor};
use card::reader::{ReaderError, ReaderStatus};
use serde::Serialize;
use tokio::sync::watch;
use ts_rs::TS;

use crate::doctor::{Check, readers_check};

/// How long one wait for an event lasts before the stop flag is looked at.
const TICK: Duration = Duration::from_millis(250);
/// The pause before watching again after the service failed.
const RETRY: Duration = Duration::from_secs(2);

/// Every reader, whether it holds a card, and what changed last.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ReaderBoard {
    /// The readers, judged as `station doctor` judges them.
    pub readers: Check<Vec<ReaderStatus>>,
    /// The last change, for whoever reacts to arrivals and removals.
    pub last_event: Option<CardEvent>,
    /// Changes seen since the app started, so a listener can tell two
    /// identical boards apart.
    #[ts(type = "number")]
    pub changes: u64,
    /// The reader documents are read from: the administrator's choice, or
    /// none for whichever reader holds a card.
    pub document_reader: Option<String>,
    /// Whether that reader holds a card: the Document step starts its
    /// read when this turns true, and a card in another reader does not.
    pub document_ready: bool,
}

impl Default for ReaderBoard {
    fn default() -> Self {
        Self {
            readers: readers_check(Ok(Vec::new())),
            last_event: None,
            changes: 0,
            document_reader: None,
            document_ready: false,
        }
    }
}

impl ReaderBoard {
    /// Whether `reader` (or, with `None`, any reader) holds a card.
    pub fn card_in(&self, reader: Option<&str>) -> bool {
        self.readers
            .found
            .iter()
            .any(|r| r.card_present && reader.is_none_or(|name| r.name == name))
    }

    /// Documents are read from `reader` from now on (none: any reader).
    pub fn read_documents_from(&mut self, reader: Option<String>) {
        self.document_reader = reader;
        self.settle();
    }

    fn settle(&mut self) {
        self.document_ready = self.card_in(self.document_reader.as_deref());
    }

    fn set(&mut self, listed: Result<Vec<ReaderStatus>, ReaderError>) {
        self.readers = readers_check(listed);
        self.changes += 1;
        self.settle();
    }

    /// The board after watching could not start; whether that is news.
    /// While the service stays down every retry fails the same way, and
    /// the window hears of it once, not every retry.
    fn failed(&mut self, e: ReaderError) -> bool {
        let next = readers_check(Err(e));
        if self.readers.found.is_empty() && self.readers.problem == next.problem {
            return false;
        }
        self.readers = next;
        self.changes += 1;
        self.settle();
        true
    }

    /// The board after `event`.
    fn apply(&mut self, event: CardEvent) {
        let mut found = std::mem::take(&mut self.readers.found);
        let listed = match &event {
            CardEvent::ReaderAdded { reader } => {
                if !found.iter().any(|r| &r.name == reader) {
                    found.push(ReaderStatus {
                        name: reader.clone(),
                        card_present: false,
                        atr: None,
                    });
                }
                Ok(found)
            }
            CardEvent::ReaderRemoved { reader } => {
                found.retain(|r| &r.name != reader);
                Ok(found)
            }
            CardEvent::CardInserted { reader, atr } => {
                if let Some(r) = found.iter_mut().find(|r| &r.name == reader) {
                    r.card_present = true;
                    r.atr = Some(atr.clone());
                }
                Ok(found)
            }
            CardEvent::CardRemoved { reader } => {
                if let Some(r) = found.iter_mut().find(|r| &r.name == reader) {
                    r.card_present = false;
                    r.atr = None;
                }
                Ok(found)
            }
            CardEvent::ServiceStopped => Err(ReaderError::NoService),
            CardEvent::Failed { message } => Err(ReaderError::Watch(message.clone())),
        };
        self.set(listed);
        self.last_event = Some(event);
    }
}

/// Watches the readers until `stop` is set, publishing every change on
/// `board`. Blocks: run it on a thread of its own.
pub fn run(board: &watch::Sender<ReaderBoard>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        let monitor = match Monitor::start() {
            Ok(m) => m,
            Err(e) => {
                board.send_if_modified(|b| b.failed(e));
                sleep_unless(stop, RETRY);
                continue;
            }
        };
        board.send_modify(|b| b.set(Ok(monitor.initial().to_vec())));
        while !stop.load(Ordering::Acquire) {
            let Some(event) = monitor.recv_timeout(TICK) else {
                continue;
            };
            let ended = matches!(event, CardEvent::ServiceStopped | CardEvent::Failed { .. });
            tracing::debug!(?event, "reader event");
            board.send_modify(|b| b.apply(event));
            if ended {
                break;
            }
        }
        monitor.stop();
        if !stop.load(Ordering::Acquire) {
            sleep_unless(stop, RETRY);
        }
    }
}

fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let mut left = total;
    while !left.is_zero() && !stop.load(Ordering::Acquire) {
        let step = left.min(TICK);
        std::thread::sleep(step);
        left -= step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Code;

    #[test]
    fn events_fold_into_the_board() {
        let mut board = ReaderBoard::default();
        assert_eq!(
            board.readers.problem.as_ref().map(|p| p.code),
            Some(Code::NoReader)
        );
        board.apply(CardEvent::ReaderAdded { reader: "A".into() });
        board.apply(CardEvent::ReaderAdded { reader: "A".into() });
        assert_eq!(board.readers.found.len(), 1);
        assert!(board.readers.problem.is_none());
        assert!(!board.card_in(None));
        board.apply(CardEvent::CardInserted {
            reader: "A".into(),
            atr: "3B00".into(),
        });
        assert!(board.card_in(Some("A")));
        assert!(!board.card_in(Some("B")));
        assert_eq!(board.readers.found[0].atr.as_deref(), Some("3B00"));
        board.apply(CardEvent::CardRemoved { reader: "A".into() });
        assert!(!board.card_in(None));
        assert_eq!(board.changes, 4);
        board.apply(CardEvent::ServiceStopped);
        assert!(board.readers.found.is_empty());
        assert_eq!(
            board.readers.problem.as_ref().map(|p| p.code),
            Some(Code::PcscUnavailable)
        );
    }

    #[test]
    fn only_a_card_in_the_document_reader_makes_it_ready() {
        let mut board = ReaderBoard::default();
        for reader in ["A", "B"] {
            board.apply(CardEvent::ReaderAdded {
                reader: reader.into(),
            });
        }
        board.read_documents_from(Some("A".into()));
        board.apply(CardEvent::CardInserted {
            reader: "B".into(),
            atr: "3B00".into(),
        });
        assert!(!board.document_ready);
        board.apply(CardEvent::CardInserted {
            reader: "A".into(),
            atr: "3B00".into(),
        });
        assert!(board.document_ready);
        board.apply(CardEvent::CardRemoved { reader: "A".into() });
        assert!(!board.document_ready);
        // Any reader: the card in B will do.
        board.read_documents_from(None);
        assert!(board.document_ready);
        board.apply(CardEvent::ServiceStopped);
        assert!(!board.document_ready);
    }

    #[test]
    fn the_same_failure_again_is_no_news() {
        let mut board = ReaderBoard::default();
        board.apply(CardEvent::ReaderAdded { reader: "A".into() });
        assert!(board.failed(ReaderError::NoService));
        assert!(board.readers.found.is_empty());
        let changes = board.changes;
        assert!(!board.failed(ReaderError::NoService));
        assert_eq!(board.changes, changes);
        assert!(board.failed(ReaderError::Watch("gone".into())));
        assert_eq!(board.changes, changes + 1);
        assert!(!board.failed(ReaderError::Watch("gone".into())));
    }
}
