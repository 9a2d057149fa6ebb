//! Finding, among millions of perceptual hashes, those within a few bits of one: multi-index
//! hashing (Norouzi, Punjani and Fleet, *Fast exact search in Hamming space with multi-index
//! hashing*, 2014).
//!
//! The 64 bits are cut into four 16-bit bands, and each band has a table from its value to the
//! hashes holding it. Two hashes at most `r` bits apart differ in at most `r / 4` bits of some
//! band (were every band `r / 4 + 1` or more apart, the hashes would be more than `r` apart), so
//! every hash within `r` is in one of the buckets whose value is within `r / 4` bits of the
//! query's in that band. For [`SAME_PHOTO`](super::SAME_PHOTO) (8) that is 137 buckets a band,
//! 548 in all, each holding about `n / 65536` hashes; the candidates are then measured exactly.
//! The search is exact: it finds every hash within the radius and nothing else.
//!
//! The `mih-rs` crate implements the same search, but over tables built once from a fixed
//! slice; this index grows by one photo at a time, as photos are standardised.

use super::PerceptualHash;

const BANDS: usize = 4;
const BAND_BITS: u32 = 16;

/// A set of perceptual hashes, searchable by Hamming distance. Each bucket holds the hashes
/// themselves, so a search reads 548 short runs of memory rather than thousands of scattered
/// places; what a hash belongs to is the caller's to keep (the service's is a database table).
pub struct HashIndex {
    radius: u32,
    /// Every change of a band's value within `radius / 4` bits.
    masks: Vec<u16>,
    len: usize,
    /// For each band, the hashes holding each of its 65,536 values.
    buckets: Vec<Vec<Vec<u64>>>,
}

impl HashIndex {
    /// An empty index answering for hashes at most `radius` bits from a query.
    pub fn new(radius: u32) -> Self {
        let band_radius = radius / BANDS as u32;
        HashIndex {
            radius,
            masks: (0..=u16::MAX)
                .filter(|m| m.count_ones() <= band_radius)
                .collect(),
            len: 0,
            buckets: (0..BANDS)
                .map(|_| vec![Vec::new(); 1 << BAND_BITS])
                .collect(),
        }
    }

    /// Hashes inserted, a hash inserted twice counting twice.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn insert(&mut self, hash: PerceptualHash) {
        for (band, buckets) in self.buckets.iter_mut().enumerate() {
            buckets[usize::from(band_of(hash, band))].push(hash.0);
        }
        self.len += 1;
    }

    /// Every hash at most the index's radius from `hash`, once, with its distance, closest
    /// first.
    pub fn within(&self, hash: PerceptualHash) -> Vec<(PerceptualHash, u32)> {
        let mut found: Vec<(u32, u64)> = Vec::new();
        for (band, buckets) in self.buckets.iter().enumerate() {
            let value = band_of(hash, band);
            for mask in &self.masks {
                for &other in &buckets[usize::from(value ^ mask)] {
                    let distance = (other ^ hash.0).count_ones();
                    if distance <= self.radius {
                        found.push((distance, other));
                    }
                }
            }
        }
        // A hash close in several bands, or inserted twice, was found more than once.
        found.sort_unstable();
        found.dedup();
        found
            .into_iter()
            .map(|(distance, other)| (PerceptualHash(other), distance))
            .collect()
    }
}

fn band_of(hash: PerceptualHash, band: usize) -> u16 {
    (hash.0 >> (band as u32 * BAND_BITS)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn flip(hash: u64, bits: u32, rng: &mut StdRng) -> u64 {
        let mut out = hash;
        while (out ^ hash).count_ones() < bits {
            out ^= 1 << rng.gen_range(0..64);
        }
        out
    }

    #[test]
    fn finds_exactly_what_a_scan_finds() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut index = HashIndex::new(8);
        let mut all = Vec::new();
        // Random hashes, and clusters of near copies at every distance up to 12 bits.
        for i in 0..20_000u32 {
            let hash = if i % 4 == 0 && !all.is_empty() {
                flip(
                    all[rng.gen_range(0..all.len())],
                    rng.gen_range(0..=12),
                    &mut rng,
                )
            } else {
                rng.gen()
            };
            index.insert(PerceptualHash(hash));
            all.push(hash);
        }
        for q in 0..300 {
            let query = if q % 2 == 0 {
                flip(
                    all[rng.gen_range(0..all.len())],
                    rng.gen_range(0..=10),
                    &mut rng,
                )
            } else {
                rng.gen()
            };
            let mut scanned: Vec<(u32, u64)> = all
                .iter()
                .map(|&h| ((h ^ query).count_ones(), h))
                .filter(|&(d, _)| d <= 8)
                .collect();
            scanned.sort_unstable();
            scanned.dedup();
            let found: Vec<(u32, u64)> = index
                .within(PerceptualHash(query))
                .into_iter()
                .map(|(h, d)| (d, h.0))
                .collect();
            assert_eq!(found, scanned, "query {query:016x}");
        }
    }

    #[test]
    fn a_hash_at_the_radius_is_found_and_one_bit_beyond_is_not() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..200 {
            let base: u64 = rng.gen();
            let mut index = HashIndex::new(8);
            let at = flip(base, 8, &mut rng);
            index.insert(PerceptualHash(at));
            index.insert(PerceptualHash(flip(base, 9, &mut rng)));
            let found = index.within(PerceptualHash(base));
            assert_eq!(found, vec![(PerceptualHash(at), 8)]);
        }
    }

    #[test]
    fn a_hash_inserted_twice_is_found_once() {
        let mut index = HashIndex::new(8);
        index.insert(PerceptualHash(0xabcd));
        index.insert(PerceptualHash(0xabcd));
        assert_eq!(index.len(), 2);
        assert_eq!(
            index.within(PerceptualHash(0xabcf)),
            vec![(PerceptualHash(0xabcd), 1)]
        );
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let index = HashIndex::new(8);
        assert!(index.within(PerceptualHash(0)).is_empty());
        assert!(index.is_empty());
    }
}
