//! An LRU cache of values by capture id that knows what its values weigh, in bytes, so what a
//! projector keeps between batches is bounded by memory rather than by count: the documents the
//! views share and the rows each view keeps are both held in one.

use lru::LruCache;

pub(crate) struct Weighed<V> {
    entries: LruCache<String, (V, usize)>,
    /// The weights of `entries` added up.
    bytes: usize,
}

impl<V> Weighed<V> {
    pub(crate) fn new() -> Self {
        Self {
            entries: LruCache::unbounded(),
            bytes: 0,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.entries.contains(key)
    }

    /// The value of `key`, now the most recently used.
    pub(crate) fn get(&mut self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    pub(crate) fn take(&mut self, key: &str) -> Option<V> {
        let (value, weight) = self.entries.pop(key)?;
        self.bytes -= weight;
        Some(value)
    }

    /// Keeps `value`, weighing `weight` bytes, as the most recently used.
    pub(crate) fn put(&mut self, key: String, value: V, weight: usize) {
        self.bytes += weight;
        if let Some((_, (_, replaced))) = self.entries.push(key, (value, weight)) {
            self.bytes -= replaced;
        }
    }

    /// The least recently used value, taken out.
    pub(crate) fn pop_lru(&mut self) -> Option<(String, V)> {
        let (key, (value, weight)) = self.entries.pop_lru()?;
        self.bytes -= weight;
        Some((key, value))
    }

    /// Lets the least recently used go until the rest weigh at most `budget`.
    pub(crate) fn shed(&mut self, budget: usize) {
        while self.bytes > budget && self.pop_lru().is_some() {}
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}
