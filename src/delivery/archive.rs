//! The package as a ZIP, streamed: one photo is read from the photo store, checked against
//! the SHA-256 its capture recorded, written and sent before the next is read, then the
//! manifest and the ZIP's directory. Memory holds one photo, whatever the package's size.
//!
//! Photos are stored, not compressed (JPEG does not shrink), and every entry carries the time
//! the package was made, so the same package is the same bytes at every download.

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use chrono::{DateTime, Datelike, Timelike, Utc};
use futures::Stream;
use sha2::{Digest, Sha256};
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use super::manifest::{Entry, MANIFEST_FILE};
use super::DeliveryError;
use crate::china_time;
use crate::photos::PhotoStore;

/// What the ZIP writer writes into, taken out after every entry.
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<Vec<u8>>>);

impl Spool {
    fn take(&self) -> Bytes {
        Bytes::from(std::mem::take(
            &mut *self.0.lock().expect("the spool is never poisoned"),
        ))
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the spool is never poisoned")
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Writing {
    zip: ZipWriter<StreamWriter<Spool>>,
    spool: Spool,
    options: SimpleFileOptions,
    entries: std::vec::IntoIter<Entry>,
    manifest: Vec<u8>,
    photos: PhotoStore,
}

/// The ZIP of `entries` (each photo at [`Entry::path`]) and `manifest`, made at `made_at`.
pub fn stream(
    entries: Vec<Entry>,
    manifest: Vec<u8>,
    made_at: DateTime<Utc>,
    photos: PhotoStore,
) -> impl Stream<Item = Result<Bytes, DeliveryError>> {
    let spool = Spool::default();
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(zip_time(made_at))
        .unix_permissions(0o644);
    let writing = Writing {
        zip: ZipWriter::new_stream(spool.clone()),
        spool,
        options,
        entries: entries.into_iter(),
        manifest,
        photos,
    };
    futures::stream::try_unfold(Some(writing), |writing| async move {
        let Some(mut w) = writing else {
            return Ok(None);
        };
        match w.entries.next() {
            Some(entry) => {
                let bytes = w.photos.get(&entry.photo_sha256).await.map_err(|e| {
                    DeliveryError::PhotoUnreadable {
                        capture_id: entry.capture_id.clone(),
                        cause: e,
                    }
                })?;
                if hex::encode(Sha256::digest(&bytes)) != entry.photo_sha256 {
                    return Err(DeliveryError::PhotoAltered {
                        capture_id: entry.capture_id,
                        sha256: entry.photo_sha256,
                    });
                }
                w.zip.start_file(entry.path(), w.options)?;
                w.zip.write_all(&bytes)?;
                let chunk = w.spool.take();
                Ok(Some((chunk, Some(w))))
            }
            None => {
                w.zip.start_file(MANIFEST_FILE, w.options)?;
                w.zip.write_all(&w.manifest)?;
                w.zip.finish()?;
                Ok(Some((w.spool.take(), None)))
            }
        }
    })
}

/// `at` on a China clock, as a ZIP entry's time (which has no zone; people read it there).
fn zip_time(at: DateTime<Utc>) -> zip::DateTime {
    let local = at.with_timezone(&china_time::CHINA);
    zip::DateTime::from_date_and_time(
        u16::try_from(local.year()).unwrap_or(1980),
        local.month() as u8,
        local.day() as u8,
        local.hour() as u8,
        local.minute() as u8,
        local.second() as u8,
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::delivery::manifest::sample_entry;
    use chrono::TimeZone;
    use futures::TryStreamExt;

    fn entry(id_number: &str, photo_sha256: &str) -> Entry {
        sample_entry("普通高等教育", id_number, photo_sha256)
    }

    async fn zip_of(entries: Vec<Entry>, photos: &PhotoStore) -> Result<Vec<u8>, DeliveryError> {
        let made_at = Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).unwrap();
        let chunks: Vec<Bytes> = stream(entries, b"manifest".to_vec(), made_at, photos.clone())
            .try_collect()
            .await?;
        Ok(chunks.concat())
    }

    #[tokio::test]
    async fn the_zip_holds_each_photo_at_its_path_then_the_manifest_and_is_the_same_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let photos = PhotoStore::local(dir.path()).unwrap();
        let a = photos.put(b"photo a".to_vec()).await.unwrap();
        let b = photos.put(b"photo b".to_vec()).await.unwrap();
        let entries = vec![entry("1", &a), entry("2", &b)];

        let zip = zip_of(entries.clone(), &photos).await.unwrap();
        assert_eq!(zip, zip_of(entries, &photos).await.unwrap());
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut read = Vec::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).unwrap();
            assert_eq!(file.compression(), CompressionMethod::Stored);
            assert_eq!(
                file.last_modified()
                    .map(|t| (t.year(), t.month(), t.day(), t.hour())),
                Some((2026, 6, 2, 8)),
                "made at 08:00 China time"
            );
            let mut bytes = String::new();
            file.read_to_string(&mut bytes).unwrap();
            read.push((file.name().to_string(), bytes));
        }
        assert_eq!(
            read,
            [
                ("普通高等教育/1.jpg".to_string(), "photo a".to_string()),
                ("普通高等教育/2.jpg".to_string(), "photo b".to_string()),
                ("manifest.csv".to_string(), "manifest".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn a_photo_the_store_lost_or_altered_stops_the_zip() {
        let dir = tempfile::tempdir().unwrap();
        let photos = PhotoStore::local(dir.path()).unwrap();
        let kept = photos.put(b"photo a".to_vec()).await.unwrap();
        let lost = "0".repeat(64);
        let missing = zip_of(vec![entry("1", &kept), entry("2", &lost)], &photos).await;
        assert!(
            matches!(missing, Err(DeliveryError::PhotoUnreadable { .. })),
            "{missing:?}"
        );

        let other = photos.put(b"photo b".to_vec()).await.unwrap();
        let stored = std::fs::read_dir(dir.path().join("sha256").join(&other[..2]))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(stored, b"photo c").unwrap();
        let altered = zip_of(vec![entry("2", &other)], &photos).await;
        assert!(
            matches!(altered, Err(DeliveryError::PhotoAltered { .. })),
            "{altered:?}"
        );
    }
}
