//! A small least-recently-used map: what a long-lived process (`sluice dev`, a warm Lambda)
//! remembers stays within a fixed number of entries, however many pipelines, tasks or
//! worker groups it meets.
//!
//! Reads and writes are O(log n): a hash map holds the entries, an ordered map their last
//! use. Reading an entry ([`Lru::get`]) counts as a use.

use std::{
    borrow::Borrow,
    collections::{BTreeMap, HashMap},
    hash::Hash,
};

#[derive(Debug)]
pub struct Lru<K, V> {
    capacity: usize,
    /// Each key's value and the tick of its last use.
    entries: HashMap<K, (V, u64)>,
    /// Tick of last use → key: the first is the least recently used.
    uses: BTreeMap<u64, K>,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// A map that holds at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            uses: BTreeMap::new(),
            tick: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The value of `key`, now the most recently used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let tick = self.next_tick();
        let (_, used) = self.entries.get_mut(key)?;
        if let Some(owned) = self.uses.remove(used) {
            self.uses.insert(tick, owned);
        }
        *used = tick;
        self.entries.get(key).map(|(value, _)| value)
    }

    /// Whether `key` has a value, without counting as a use.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.contains_key(key)
    }

    /// Sets the value of `key`, now the most recently used; when the map is full, the least
    /// recently used entry goes. Returns the value `key` had.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let tick = self.next_tick();
        if let Some((old, used)) = self.entries.remove(&key) {
            self.uses.remove(&used);
            self.entries.insert(key.clone(), (value, tick));
            self.uses.insert(tick, key);
            return Some(old);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.uses.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.entries.insert(key.clone(), (value, tick));
        self.uses.insert(tick, key);
        None
    }

    /// Forgets `key`.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (value, used) = self.entries.remove(key)?;
        self.uses.remove(&used);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_forgets_the_least_recently_used_entry() {
        // Given a map of three, filled a, b, c, then a read again
        let mut lru = Lru::new(3);
        lru.insert("a", 1);
        lru.insert("b", 2);
        lru.insert("c", 3);
        assert_eq!(lru.get("a"), Some(&1));
        // When a fourth entry comes
        lru.insert("d", 4);
        // Then b, the one unused longest, went; the rest stay
        assert!(!lru.contains("b"));
        assert!(lru.contains("a") && lru.contains("c") && lru.contains("d"));
        assert_eq!(lru.len(), 3);
        // And writing an existing key counts as a use, without growing the map
        assert_eq!(lru.insert("c", 30), Some(3));
        lru.insert("e", 5);
        assert!(!lru.contains("a"), "a was next oldest");
        assert_eq!(lru.get("c"), Some(&30));
        assert_eq!(lru.len(), 3);
    }

    #[test]
    fn a_map_never_holds_more_than_its_capacity() {
        let mut lru = Lru::new(16);
        for key in 0..10_000_u32 {
            lru.insert(key, key);
            // Reads of older keys keep them, but never grow the map
            let _ = lru.get(&(key / 2));
            assert!(lru.len() <= 16);
        }
        assert_eq!(lru.len(), 16);
        assert_eq!(lru.remove(&9_999), Some(9_999));
        assert_eq!(lru.len(), 15);
        assert_eq!(Lru::<u8, u8>::new(0).capacity(), 1, "a map holds at least one entry");
    }

    #[test]
    fn string_keys_are_read_by_str() {
        let mut lru: Lru<String, u8> = Lru::new(2);
        lru.insert("wg".to_owned(), 1);
        assert_eq!(lru.get("wg").copied(), Some(1));
        assert_eq!(lru.remove("wg"), Some(1));
        assert!(lru.is_empty());
    }
}
