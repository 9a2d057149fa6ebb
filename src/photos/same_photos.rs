//! The same-photo (同版) search: which other captures hold the photo a student submits.
//!
//! Every standard photo's perceptual hash is in the `same_photos` view; the search keeps the
//! hashes in a multi-index in memory ([`HashIndex`], 40 bytes a photo), reads the rows written
//! since it last looked before each search, so photos standardised through another instance are
//! found too, and reads the rows of the hashes it finds. A match is recorded with the submission
//! and shown to the reviewer, who decides: the service never refuses or rejects a photo for it.

use photo_ledger_domain::events::SamePhoto;
use photo_ledger_domain::values::{CaptureId, PhotoId};
use photo_ledger_photo::phash::index::HashIndex;
use photo_ledger_photo::phash::{PerceptualHash, SAME_PHOTO};
use photo_ledger_projections::same_photos::{self, IndexedPhoto};
use photo_ledger_projections::ProjectionError;
use photo_ledger_store::Db;

/// Rows read per query while catching up.
const CATCH_UP_PAGE: i64 = 10_000;
/// The most matches recorded with one submission, closest first: more tell the reviewer nothing.
const MOST_REPORTED: usize = 10;

pub struct SamePhotos {
    db: Db,
    index: tokio::sync::Mutex<Indexed>,
}

/// The hashes read so far.
struct Indexed {
    hashes: HashIndex,
    /// The last row number read.
    read_to: i64,
}

impl SamePhotos {
    pub fn new(db: Db) -> Self {
        SamePhotos {
            db,
            index: tokio::sync::Mutex::new(Indexed {
                hashes: HashIndex::new(SAME_PHOTO),
                read_to: 0,
            }),
        }
    }

    /// Reads every hash written since the last search; the first call reads them all.
    pub async fn catch_up(&self) -> Result<usize, ProjectionError> {
        let mut indexed = self.index.lock().await;
        indexed.catch_up(&self.db).await?;
        Ok(indexed.hashes.len())
    }

    /// Other captures' photos that are the same photo as standard photo `photo_id` of
    /// `capture_id`, one per capture, closest first. None for a photo that is not that capture's
    /// standard photo (submitting it is refused anyway).
    pub async fn of(
        &self,
        capture_id: CaptureId,
        photo_id: PhotoId,
    ) -> Result<Vec<SamePhoto>, ProjectionError> {
        let Some(photo) = same_photos::photo(&self.db, &photo_id.to_string()).await? else {
            return Ok(vec![]);
        };
        let Some(hash) = hash_of(&photo).filter(|_| photo.capture() == Some(capture_id)) else {
            return Ok(vec![]);
        };
        let near = {
            let mut indexed = self.index.lock().await;
            indexed.catch_up(&self.db).await?;
            indexed.hashes.within(hash)
        };
        let mut found: Vec<SamePhoto> = Vec::new();
        // Closest first; the photo's own hash is among them, and its capture is skipped.
        for (near_hash, distance) in near {
            for other in same_photos::with_hash(&self.db, &near_hash.to_string()).await? {
                let (Some(other_capture), Some(other_photo)) = (other.capture(), other.photo())
                else {
                    continue;
                };
                if other_capture == capture_id
                    || found.iter().any(|f| f.capture_id == other_capture)
                {
                    continue;
                }
                found.push(SamePhoto {
                    capture_id: other_capture,
                    photo_id: other_photo,
                    distance,
                    same_person: other.person_key == photo.person_key,
                    school: other.school,
                    education_type: other.education_type,
                });
                if found.len() == MOST_REPORTED {
                    return Ok(found);
                }
            }
        }
        Ok(found)
    }
}

impl Indexed {
    async fn catch_up(&mut self, db: &Db) -> Result<(), ProjectionError> {
        loop {
            let page = same_photos::hashes_added_after(db, self.read_to, CATCH_UP_PAGE).await?;
            let Some(&(last, _)) = page.last() else {
                return Ok(());
            };
            for (_, hash) in &page {
                if let Ok(bits) = u64::from_str_radix(hash, 16) {
                    self.hashes.insert(PerceptualHash(bits));
                }
            }
            self.read_to = last;
            if page.len() < CATCH_UP_PAGE as usize {
                return Ok(());
            }
        }
    }
}

fn hash_of(photo: &IndexedPhoto) -> Option<PerceptualHash> {
    u64::from_str_radix(&photo.hash, 16)
        .ok()
        .map(PerceptualHash)
}
