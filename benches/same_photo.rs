//! The same-photo (同版) search at a million indexed photos. Results go to BENCHMARKS.md.
//!
//!     cargo bench --bench same_photo -- --photos 1000000
//!
//! A fresh SQLite store gets `--photos` rows in `same_photo_index`: random 64-bit hashes, one in
//! a hundred a near copy (1–8 bits off) of an earlier one, as a photo handed in again would be.
//! Measured: how long the search takes to read them all (what a restart costs, once, before the
//! first submission) and what that adds to resident memory; then, for `--queries` indexed photos
//! submitted (half of them near copies), the whole search as a submission runs it
//! (`SamePhotos::of`: the photo's own row, the multi-index lookup, the matches' rows), the
//! multi-index lookup alone, and the floor they are compared to: scanning every hash in memory.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use photo_ledger::photos::SamePhotos;
use photo_ledger_domain::values::{CaptureId, PhotoId};
use photo_ledger_photo::phash::index::HashIndex;
use photo_ledger_photo::phash::{PerceptualHash, SAME_PHOTO};
use photo_ledger_store::Db;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{arg, percentile};

struct Photo {
    photo_id: PhotoId,
    capture_id: CaptureId,
    hash: u64,
    near_copy: bool,
}

fn photos(count: usize) -> Vec<Photo> {
    let mut rng = StdRng::seed_from_u64(2026);
    let mut out: Vec<Photo> = Vec::with_capacity(count);
    for i in 0..count {
        let near_copy = i > 0 && i % 100 == 0;
        let hash = if near_copy {
            let base = out[rng.gen_range(0..i)].hash;
            let mut hash = base;
            let bits = rng.gen_range(1..=SAME_PHOTO);
            while (hash ^ base).count_ones() < bits {
                hash ^= 1 << rng.gen_range(0..64);
            }
            hash
        } else {
            rng.gen()
        };
        out.push(Photo {
            photo_id: PhotoId::from_uuid(uuid::Uuid::from_u128(rng.gen())),
            capture_id: CaptureId::from_uuid(uuid::Uuid::from_u128(rng.gen())),
            hash,
            near_copy,
        });
    }
    out
}

async fn store(photos: &[Photo]) -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Db::connect(None, dir.path(), 4)
        .await
        .expect("SQLite opens");
    db.migrate().await.expect("migrations run");
    let Db::Sqlite(pool) = &db else {
        unreachable!("no database URL: SQLite")
    };
    let mut tx = pool.begin().await.unwrap();
    for chunk in photos.chunks(4_000) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO same_photo_index \
             (photo_id, capture_id, person_key, hash, school, education_type) ",
        );
        insert.push_values(chunk, |mut row, p| {
            row.push_bind(p.photo_id.to_string())
                .push_bind(p.capture_id.to_string())
                .push_bind(format!("{:064x}", p.hash))
                .push_bind(PerceptualHash(p.hash).to_string())
                .push_bind("演示大学")
                .push_bind("普通高等教育");
        });
        insert.build().execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    (db, dir)
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{name:<44} median {:>9.1} µs   p99 {:>9.1} µs",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let count = arg("--photos", 1_000_000) as usize;
    let queries = arg("--queries", 2_000) as usize;
    let photos = photos(count);
    let (db, _dir) = store(&photos).await;
    println!("{count} photos indexed, {queries} submissions searched");

    let search = SamePhotos::new(db.clone());
    let before = resident_bytes();
    let started = Instant::now();
    let loaded = search.catch_up().await.expect("the search loads");
    println!(
        "reading every hash into the search          {:>9.0} ms   {loaded} hashes, resident memory +{} MB",
        started.elapsed().as_secs_f64() * 1e3,
        resident_bytes().saturating_sub(before) / 1_000_000
    );

    let mut rng = StdRng::seed_from_u64(7);
    let copies: Vec<&Photo> = photos.iter().filter(|p| p.near_copy).collect();
    let asked: Vec<&Photo> = (0..queries)
        .map(|i| {
            if i % 2 == 0 && !copies.is_empty() {
                copies[rng.gen_range(0..copies.len())]
            } else {
                &photos[rng.gen_range(0..photos.len())]
            }
        })
        .collect();

    let mut whole = Vec::with_capacity(queries);
    let mut found = 0;
    for p in &asked {
        let started = Instant::now();
        let same = search.of(p.capture_id, p.photo_id).await.unwrap();
        whole.push(started.elapsed());
        found += same.len();
    }
    summary("the whole search (SamePhotos::of)", whole);

    let mut index = HashIndex::new(SAME_PHOTO);
    for p in &photos {
        index.insert(PerceptualHash(p.hash));
    }
    let mut lookups = Vec::with_capacity(queries);
    let mut indexed = 0;
    for p in &asked {
        let started = Instant::now();
        indexed += std::hint::black_box(index.within(PerceptualHash(p.hash))).len();
        lookups.push(started.elapsed());
    }
    summary("the multi-index lookup alone", lookups);

    let hashes: Vec<u64> = photos.iter().map(|p| p.hash).collect();
    let mut scans = Vec::with_capacity(queries);
    let mut scanned = 0;
    for p in &asked {
        let started = Instant::now();
        let near = std::hint::black_box(&hashes)
            .iter()
            .filter(|h| (*h ^ p.hash).count_ones() <= SAME_PHOTO)
            .count();
        scans.push(started.elapsed());
        std::hint::black_box(near);
        // Counted again outside the timing: the lookup answers each distinct hash once.
        let mut distinct: Vec<u64> = hashes
            .iter()
            .copied()
            .filter(|h| (h ^ p.hash).count_ones() <= SAME_PHOTO)
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        scanned += distinct.len();
    }
    summary("floor: scanning every hash in memory (counting)", scans);
    assert_eq!(indexed, scanned, "the index finds what a scan finds");
    println!(
        "matches: {found} in other captures ({indexed} hashes within {SAME_PHOTO} bits, the photos themselves included)"
    );
}
