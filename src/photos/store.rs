//! Where uploaded and standardised photos are kept: an [`object_store`] (a local directory by
//! default, or an S3-compatible bucket), each file under its SHA-256, so the same picture is
//! stored once.

use std::path::Path;
use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::configuration::{PhotoSettings, S3Settings, SettingError};

#[derive(Clone)]
pub struct PhotoStore {
    store: Arc<dyn ObjectStore>,
}

fn key(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("sha256/{}/{sha256}", &sha256[..2]))
}

/// The preview of the file stored under `sha256`.
fn preview_key(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("previews/{}/{sha256}.jpg", &sha256[..2]))
}

/// The S3-compatible bucket the settings name, as an object store.
pub fn s3_bucket(settings: &S3Settings) -> Result<AmazonS3, SettingError> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&settings.bucket)
        .with_region(&settings.region)
        .with_access_key_id(&settings.access_key_id)
        .with_secret_access_key(settings.secret_access_key.expose_secret())
        .with_allow_http(settings.allow_http)
        .with_virtual_hosted_style_request(settings.virtual_hosted_style);
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder
        .build()
        .map_err(|e| SettingError::unusable("photos.s3", "cannot use the bucket", e))
}

impl PhotoStore {
    /// The store the settings name: the S3-compatible bucket, else the local directory
    /// (`<data dir>/photos` by default).
    pub fn from_settings(settings: &PhotoSettings, data_dir: &Path) -> Result<Self, SettingError> {
        match (&settings.s3, &settings.store_dir) {
            (Some(_), Some(_)) => Err(SettingError::invalid(
                "photos.store_dir",
                "photos.s3 is set too: keep one",
            )),
            (Some(s3), None) => Self::s3(s3),
            (None, dir) => Self::local(&dir.clone().unwrap_or_else(|| data_dir.join("photos"))),
        }
    }

    /// A store in an S3-compatible bucket. Nothing is sent until the first photo.
    pub fn s3(settings: &S3Settings) -> Result<Self, SettingError> {
        Ok(Self {
            store: Arc::new(s3_bucket(settings)?),
        })
    }

    /// A store in a local directory (created if missing).
    pub fn local(dir: &Path) -> Result<Self, SettingError> {
        let unusable =
            |e| SettingError::unusable("photos.store_dir", "cannot keep photos there", e);
        std::fs::create_dir_all(dir)
            .map_err(|e| SettingError::unusable("photos.store_dir", "cannot create it", e))?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(unusable)?),
        })
    }
    /// Stores the bytes under their SHA-256 (hex), which is returned.
    pub async fn put(&self, bytes: Vec<u8>) -> Result<String, object_store::Error> {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        self.store
            .put(&key(&sha256), PutPayload::from(bytes))
            .await?;
        Ok(sha256)
    }

    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, object_store::Error> {
        Ok(self.store.get(&key(sha256)).await?.bytes().await?.to_vec())
    }

    /// The preview kept for the file stored under `sha256`, if one has been made.
    pub async fn preview(&self, sha256: &str) -> Result<Option<Vec<u8>>, object_store::Error> {
        match self.store.get(&preview_key(sha256)).await {
            Ok(found) => Ok(Some(found.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the file stored under `sha256` and its preview; `false` when the file was not
    /// there (deleting it again succeeds, so an erasure can be run again).
    pub async fn delete(&self, sha256: &str) -> Result<bool, object_store::Error> {
        // Some stores (S3) answer a delete of a missing object with success: ask first.
        let existed = match self.store.head(&key(sha256)).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        for path in [key(sha256), preview_key(sha256)] {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(existed)
    }

    /// Keeps the preview of the file stored under `sha256`.
    pub async fn put_preview(
        &self,
        sha256: &str,
        jpeg: Vec<u8>,
    ) -> Result<(), object_store::Error> {
        self.store
            .put(&preview_key(sha256), PutPayload::from(jpeg))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_and_a_bucket_together_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = PhotoSettings {
            store_dir: Some(dir.path().join("photos")),
            ..PhotoSettings::default()
        };
        assert!(PhotoStore::from_settings(&settings, dir.path()).is_ok());
        settings.s3 = Some(S3Settings {
            bucket: "photos".into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: "us-east-1".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            allow_http: true,
            virtual_hosted_style: false,
        });
        let both = PhotoStore::from_settings(&settings, dir.path())
            .err()
            .unwrap();
        assert!(both.to_string().contains("keep one"), "{both}");
        settings.store_dir = None;
        assert!(PhotoStore::from_settings(&settings, dir.path()).is_ok());
    }
}
