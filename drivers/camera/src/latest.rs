//! A one-slot mailbox where the newest value replaces an unread one: how a
//! fast producer feeds a slow consumer without a queue ever growing.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Latest-value-wins handoff between threads.
#[derive(Debug)]
pub struct Latest<T> {
    state: Mutex<Slot<T>>,
    changed: Condvar,
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    replaced: u64,
    closed: bool,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(Slot {
                value: None,
                replaced: 0,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }
}

impl<T> Latest<T> {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panicking holder cannot leave the slot inconsistent: it is
        // only ever assigned whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `value` in the slot; returns true when it replaced one that was
    /// never taken (a dropped frame). Ignored once closed.
    pub fn put(&self, value: T) -> bool {
        let mut slot = self.lock();
        if slot.closed {
            return false;
        }
        let dropped = slot.value.replace(value).is_some();
        if dropped {
            slot.replaced += 1;
        }
        drop(slot);
        self.changed.notify_all();
        dropped
    }

    /// Takes the newest value, waiting up to `timeout` for one. `None` on
    /// timeout or once closed and empty.
    pub fn take(&self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.lock();
        loop {
            if let Some(value) = slot.value.take() {
                return Some(value);
            }
            let now = Instant::now();
            if slot.closed || now >= deadline {
                return None;
            }
            slot = self
                .changed
                .wait_timeout(slot, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Values that were replaced before anyone took them.
    pub fn replaced(&self) -> u64 {
        self.lock().replaced
    }

    /// Wakes every waiter; later `put`s are ignored.
    pub fn close(&self) {
        let mut slot = self.lock();
        slot.closed = true;
        slot.value = None;
        drop(slot);
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_newest_value_wins_and_drops_are_counted() {
        let latest = Latest::new();
        assert!(!latest.put(1));
        assert!(latest.put(2));
        assert!(latest.put(3));
        assert_eq!(latest.take(Duration::ZERO), Some(3));
        assert_eq!(latest.take(Duration::from_millis(1)), None);
        assert_eq!(latest.replaced(), 2);
    }

    #[test]
    fn close_wakes_a_waiting_consumer() {
        let latest = Arc::new(Latest::<u8>::new());
        let waiter = {
            let latest = Arc::clone(&latest);
            std::thread::spawn(move || latest.take(Duration::from_secs(60)))
        };
        std::thread::sleep(Duration::from_millis(20));
        latest.close();
        assert_eq!(waiter.join().unwrap(), None);
        assert!(!latest.put(1));
        assert!(latest.is_closed());
    }
}
