//! The ledger's messages by id, in a window that forgets the old ones: a message is kept while it
//! is in flight and for a horizon after it was due, so its late or second answers are still told
//! apart; after that it is dropped, so a soak of millions of messages runs in flat memory.

use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

/// Messages `base..base + len`, oldest first.
pub(crate) struct Window<T> {
    base: u64,
    items: VecDeque<T>,
}

impl<T> Window<T> {
    pub(crate) fn new() -> Self {
        Self { base: 0, items: VecDeque::new() }
    }

    /// The id the next pushed message gets.
    pub(crate) fn next_id(&self) -> u64 {
        self.base + self.items.len() as u64
    }

    /// Whether `id` was a message this window has forgotten.
    pub(crate) fn forgotten(&self, id: u64) -> bool {
        id < self.base
    }

    pub(crate) fn push(&mut self, item: T) -> u64 {
        let id = self.next_id();
        self.items.push_back(item);
        id
    }

    pub(crate) fn get(&self, id: u64) -> Option<&T> {
        id.checked_sub(self.base).and_then(|i| self.items.get(i as usize))
    }

    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        id.checked_sub(self.base).and_then(|i| self.items.get_mut(i as usize))
    }

    /// The ids still kept.
    pub(crate) fn ids(&self) -> std::ops::Range<u64> {
        self.base..self.next_id()
    }

    /// Forgets the oldest messages while `done` says they may go; stops at the first that may
    /// not (a message still in flight keeps every later one too, which its timeout bounds).
    pub(crate) fn forget_while(&mut self, done: impl Fn(&T) -> bool) {
        while self.items.front().is_some_and(&done) {
            self.items.pop_front();
            self.base += 1;
        }
    }
}

impl<T> Index<u64> for Window<T> {
    type Output = T;
    fn index(&self, id: u64) -> &T {
        self.get(id).expect("a message id the window holds")
    }
}

impl<T> IndexMut<u64> for Window<T> {
    fn index_mut(&mut self, id: u64) -> &mut T {
        self.get_mut(id).expect("a message id the window holds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_stable_as_the_front_is_forgotten() {
        let mut w = Window::new();
        for v in 0..5u64 {
            assert_eq!(w.push(v * 10), v);
        }
        // 0 and 1 may go; 2 may not, so 3 stays too even though it may go.
        w.forget_while(|v| *v != 20);
        assert_eq!(w.ids(), 2..5);
        assert!(w.forgotten(1) && !w.forgotten(2));
        assert_eq!((w.get(1), w.get(3), w[4]), (None, Some(&30), 40));
        assert_eq!(w.push(50), 5);
    }
}
