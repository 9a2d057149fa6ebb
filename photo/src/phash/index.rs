//! Finding, among millions of perceptual hashes, those within a few bits of one: multi-index
//! hashing (Norouzi, Punjani and Fleet, *Fast exact search in Hamming space with multi-index
//! hashing*, 2014).
//!
//! The 64 bits are cut into five bands (13, 13, 13, 13 and 12 bits), and each band has a table
//! from its value to the hashes holding it. Two hashes at most `r` bits apart differ in at most
//! `r / 5` bits of some band (were every band `r / 5 + 1` or more apart, the hashes would be more
//! than `r` apart), so every hash within `r` is in one of the buckets whose value is within
//! `r / 5` bits of the query's in that band. For [`SAME_PHOTO`](super::SAME_PHOTO) (8) that is one
//! bit: 14 buckets a band (13 in the last), 69 in all, each holding about `n / 8192` hashes; the
//! candidates are then measured exactly. The search is exact: it finds every hash within the
//! radius and nothing else.
//!
//! Five bands rather than four of 16 bits: at a million hashes both measure about as many
//! candidates, but four bands read them from 548 places in memory (2 bits a band), five from 69,
//! and scattered reads are what a search costs (measured in BENCHMARKS.md).
//!
//! The `mih-rs` crate implements the same search, but over tables built once from a fixed
//! slice; this index grows by one photo at a time, as photos are standardised.

use super::PerceptualHash;

/// Each band's width in bits; together the 64 bits of a hash.
const BAND_BITS: [u32; 5] = [13, 13, 13, 13, 12];

/// A set of perceptual hashes, searchable by Hamming distance. Each bucket holds the hashes
/// themselves, so a search reads 69 short runs of memory rather than thousands of scattered
/// places; what a hash belongs to is the caller's to keep (the service's is a database table).
pub struct HashIndex {
    radius: u32,
    /// For each band, every change of its value within `radius / 5` bits.
    masks: Vec<Vec<u16>>,
    len: usize,
    /// For each band, the hashes holding each of its values.
    buckets: Vec<Vec<Vec<u64>>>,
}

impl HashIndex {
    /// An empty index answering for hashes at most `radius` bits from a query.
    pub fn new(radius: u32) -> Self {
        let band_radius = radius / BAND_BITS.len() as u32;
        HashIndex {
            radius,
            masks: BAND_BITS
                .iter()
                .map(|&bits| {
                    (0..1u16 << bits)
                        .filter(|m| m.count_ones() <= band_radius)
                        .collect()
                })
                .collect(),
            len: 0,
            buckets: BAND_BITS
                .iter()
                .map(|&bits| vec![Vec::new(); 1 << bits])
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
        for (band, (buckets, masks)) in self.buckets.iter().zip(&self.masks).enumerate() {
            let value = band_of(hash, band);
            for mask in masks {
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

/// The value of band number `band` of `hash`.
fn band_of(hash: PerceptualHash, band: usize) -> u16 {
    let offset: u32 = BAND_BITS[..band].iter().sum();
    ((hash.0 >> offset) & ((1 << BAND_BITS[band]) - 1)) as u16
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
    fn every_radius_finds_what_a_scan_finds() {
        let mut rng = StdRng::seed_from_u64(3);
        let all: Vec<u64> = (0..3_000).map(|_| rng.gen()).collect();
        for radius in [0, 3, 4, 5, 9, 12] {
            let mut index = HashIndex::new(radius);
            for &h in &all {
                index.insert(PerceptualHash(h));
            }
            for &base in all.iter().take(50) {
                let query = flip(base, rng.gen_range(0..=radius + 2), &mut rng);
                let mut scanned: Vec<(u32, u64)> = all
                    .iter()
                    .map(|&h| ((h ^ query).count_ones(), h))
                    .filter(|&(d, _)| d <= radius)
                    .collect();
                scanned.sort_unstable();
                let found: Vec<(u32, u64)> = index
                    .within(PerceptualHash(query))
                    .into_iter()
                    .map(|(h, d)| (d, h.0))
                    .collect();
                assert_eq!(found, scanned, "radius {radius}, query {query:016x}");
            }
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
