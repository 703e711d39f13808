//! Reader and card arrivals and departures, as they happen.
//!
//! A [`Monitor`] runs one thread that waits in `SCardGetStatusChange` on
//! every reader plus the `\\?PnP?\Notification` pseudo-reader (which
//! changes when a reader is plugged in or out) and sends each change as a
//! [`CardEvent`] over a channel. Stopping (or dropping) the monitor cancels
//! the wait and joins the thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::reader::{ReaderError, ReaderStatus};

/// Something that happened at the readers.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CardEvent {
    ReaderAdded {
        reader: String,
    },
    ReaderRemoved {
        reader: String,
    },
    /// A card arrived; its answer-to-reset in hex.
    CardInserted {
        reader: String,
        atr: String,
    },
    CardRemoved {
        reader: String,
    },
    /// The smart-card service went away; the monitor has ended.
    ServiceStopped,
    /// Waiting failed for another reason; the monitor has ended.
    Failed {
        message: String,
    },
}

/// The state of one slot between two waits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    present: bool,
    atr: String,
    /// pcsc-lite's count of insertions and removals, so a card pulled and
    /// put back between two waits still shows as both.
    count: u32,
}

/// The events that lead from `before` to `after`, in order: readers gone
/// (their cards with them), cards gone, readers added, cards inserted.
fn changes(before: &BTreeMap<String, Slot>, after: &BTreeMap<String, Slot>) -> Vec<CardEvent> {
    let mut events = Vec::new();
    for (reader, slot) in before {
        if !after.contains_key(reader) {
            if slot.present {
                events.push(CardEvent::CardRemoved {
                    reader: reader.clone(),
                });
            }
            events.push(CardEvent::ReaderRemoved {
                reader: reader.clone(),
            });
        }
    }
    for (reader, slot) in after {
        let old = before.get(reader);
        if old.is_none() {
            events.push(CardEvent::ReaderAdded {
                reader: reader.clone(),
            });
        }
        let was_present = old.is_some_and(|o| o.present);
        let swapped = old.is_some_and(|o| o.present && slot.present && o.count != slot.count);
        if was_present && (!slot.present || swapped) {
            events.push(CardEvent::CardRemoved {
                reader: reader.clone(),
            });
        }
        if slot.present && (!was_present || swapped) {
            events.push(CardEvent::CardInserted {
                reader: reader.clone(),
                atr: slot.atr.clone(),
            });
        }
    }
    events
}

/// A running watch over the readers; the events arrive through
/// [`Monitor::recv_timeout`] or by iterating over [`Monitor::events`].
pub struct Monitor {
    events: Receiver<CardEvent>,
    initial: Vec<ReaderStatus>,
    stop: Arc<AtomicBool>,
    context: pcsc::Context,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("initial", &self.initial)
            .finish_non_exhaustive()
    }
}

/// Longest single wait; the stop flag is looked at in between even if a
/// cancel were lost.
const WAIT: Duration = Duration::from_secs(1);

fn pcsc_error(e: pcsc::Error) -> ReaderError {
    match e {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => ReaderError::NoService,
        other => ReaderError::Pcsc(other),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// What the thread waits on: the PnP pseudo-reader first, then each reader.
struct Watch {
    context: pcsc::Context,
    states: Vec<pcsc::ReaderState>,
}

impl Watch {
    fn new(context: pcsc::Context) -> Result<Self, ReaderError> {
        let mut watch = Self {
            context,
            states: vec![pcsc::ReaderState::new(
                pcsc::PNP_NOTIFICATION(),
                pcsc::State::UNAWARE,
            )],
        };
        watch.relist()?;
        // A first wait with everything UNAWARE returns at once with the
        // state as it is.
        watch.wait(Duration::ZERO)?;
        Ok(watch)
    }

    /// Brings the reader list up to date, keeping what is known of readers
    /// that stay.
    fn relist(&mut self) -> Result<(), ReaderError> {
        let names = match self.context.list_readers_owned() {
            Ok(names) => names,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => return Err(pcsc_error(e)),
        };
        let mut states: Vec<pcsc::ReaderState> = Vec::with_capacity(names.len() + 1);
        let mut old = std::mem::take(&mut self.states).into_iter();
        if let Some(pnp) = old.next() {
            states.push(pnp);
        }
        let mut kept: Vec<pcsc::ReaderState> = old.collect();
        for name in names {
            match kept.iter().position(|s| s.name() == name.as_c_str()) {
                Some(i) => states.push(kept.swap_remove(i)),
                None => states.push(pcsc::ReaderState::new(name, pcsc::State::UNAWARE)),
            }
        }
        self.states = states;
        Ok(())
    }

    /// One wait; `Ok(false)` when it timed out or was cancelled.
    fn wait(&mut self, timeout: Duration) -> Result<bool, ReaderError> {
        match self.context.get_status_change(timeout, &mut self.states) {
            Ok(()) => Ok(true),
            Err(pcsc::Error::Timeout) | Err(pcsc::Error::Cancelled) => Ok(false),
            // A reader left between listing and waiting: the list without
            // it is a change to report.
            Err(pcsc::Error::UnknownReader) => {
                self.relist()?;
                Ok(true)
            }
            Err(e) => Err(pcsc_error(e)),
        }
    }

    /// Whether the PnP pseudo-reader reported a change of the reader list.
    fn readers_changed(&self) -> bool {
        self.states
            .first()
            .is_some_and(|pnp| pnp.event_state().contains(pcsc::State::CHANGED))
    }

    fn slots(&self) -> BTreeMap<String, Slot> {
        self.states
            .iter()
            .skip(1)
            .filter(|s| {
                let state = s.event_state();
                !state.intersects(pcsc::State::UNKNOWN | pcsc::State::IGNORE)
            })
            .map(|s| {
                let present = s.event_state().contains(pcsc::State::PRESENT);
                (
                    s.name().to_string_lossy().into_owned(),
                    Slot {
                        present,
                        atr: if present { hex(s.atr()) } else { String::new() },
                        count: s.event_count(),
                    },
                )
            })
            .collect()
    }

    fn acknowledge(&mut self) {
        for state in &mut self.states {
            state.sync_current_state();
        }
    }
}

fn statuses(slots: &BTreeMap<String, Slot>) -> Vec<ReaderStatus> {
    slots
        .iter()
        .map(|(name, slot)| ReaderStatus {
            name: name.clone(),
            card_present: slot.present,
            atr: slot.present.then(|| slot.atr.clone()),
        })
        .collect()
}

/// The last event of a monitor that could not go on.
fn ended(e: ReaderError) -> CardEvent {
    match e {
        ReaderError::NoService => CardEvent::ServiceStopped,
        other => CardEvent::Failed {
            message: other.to_string(),
        },
    }
}

/// The thread's loop: wait, diff, send, until stopped or the service goes.
fn run(
    mut watch: Watch,
    mut known: BTreeMap<String, Slot>,
    stop: &AtomicBool,
    tx: &Sender<CardEvent>,
) {
    while !stop.load(Ordering::Acquire) {
        let changed = match watch.wait(WAIT) {
            Ok(changed) => changed,
            Err(e) => {
                let _ = tx.send(ended(e));
                return;
            }
        };
        if !changed {
            continue;
        }
        let relist = watch.readers_changed()
            || watch.states.iter().skip(1).any(|s| {
                s.event_state()
                    .intersects(pcsc::State::UNKNOWN | pcsc::State::IGNORE)
            });
        let now = watch.slots();
        for event in changes(&known, &now) {
            if tx.send(event).is_err() {
                // Nobody listens any more.
                return;
            }
        }
        known = now;
        watch.acknowledge();
        if relist && let Err(e) = watch.relist() {
            let _ = tx.send(ended(e));
            return;
        }
    }
}

impl Monitor {
    /// Starts watching. The readers as they are now are in
    /// [`Monitor::initial`]; events report changes from there on.
    pub fn start() -> Result<Self, ReaderError> {
        let context = pcsc::Context::establish(pcsc::Scope::User).map_err(pcsc_error)?;
        let watch = Watch::new(context.clone())?;
        let known = watch.slots();
        let initial = statuses(&known);
        let mut watch = watch;
        watch.acknowledge();
        let (tx, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("card-events".into())
                .spawn(move || run(watch, known, &stop, &tx))
                .map_err(|e| ReaderError::Watch(e.to_string()))?
        };
        Ok(Self {
            events,
            initial,
            stop,
            context,
            thread: Some(thread),
        })
    }

    /// The readers, and whether each held a card, when watching began.
    pub fn initial(&self) -> &[ReaderStatus] {
        &self.initial
    }

    /// The next event, or `None` if none came within `timeout` (or the
    /// monitor has ended and every event was taken).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<CardEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Every event as it comes; the iteration ends when the monitor does.
    pub fn events(&self) -> impl Iterator<Item = CardEvent> + '_ {
        self.events.iter()
    }

    /// Stops watching and waits for the thread to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the wait at once; without it the thread ends within WAIT.
        let _ = self.context.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(present: bool, count: u32) -> Slot {
        Slot {
            present,
            atr: if present {
                "3B00".into()
            } else {
                String::new()
            },
            count,
        }
    }

    fn map(entries: &[(&str, Slot)]) -> BTreeMap<String, Slot> {
        entries
            .iter()
            .map(|(n, s)| ((*n).to_owned(), s.clone()))
            .collect()
    }

    #[test]
    fn slot_changes_become_events_in_order() {
        let removed = |r: &str| CardEvent::CardRemoved { reader: r.into() };
        let inserted = |r: &str| CardEvent::CardInserted {
            reader: r.into(),
            atr: "3B00".into(),
        };
        let a_empty = map(&[("A", slot(false, 0))]);
        let a_card = map(&[("A", slot(true, 1))]);
        assert_eq!(changes(&a_empty, &a_card), [inserted("A")]);
        assert_eq!(changes(&a_card, &a_empty), [removed("A")]);
        assert_eq!(changes(&a_card, &a_card), []);
        // pulled and put back between two waits
        let a_again = map(&[("A", slot(true, 3))]);
        assert_eq!(changes(&a_card, &a_again), [removed("A"), inserted("A")]);
        // a reader plugged in with a card, and one unplugged with its card
        let both = map(&[("A", slot(true, 1)), ("B", slot(true, 1))]);
        assert_eq!(
            changes(&a_card, &both),
            [CardEvent::ReaderAdded { reader: "B".into() }, inserted("B")]
        );
        assert_eq!(
            changes(&both, &map(&[("B", slot(true, 1))])),
            [
                removed("A"),
                CardEvent::ReaderRemoved { reader: "A".into() }
            ]
        );
    }
}
