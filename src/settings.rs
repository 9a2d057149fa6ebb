//! Typed settings shared by every subcommand that touches the ledger.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use photo_ledger_projections::person_key::PersonKeyer;

/// Where the ledger lives.
#[derive(Args, Clone, Debug)]
pub struct StoreSettings {
    /// Directory for the embedded database and the photo store.
    #[arg(long, env = "PHOTO_LEDGER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://…); without it the embedded SQLite database in the data
    /// directory is used.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Secret for the keyed hash of ID numbers in the photo history. Every instance sharing a
    /// database must use the same one; without it a random key is kept in the data directory.
    #[arg(long, env = "PHOTO_LEDGER_PERSON_KEY", hide_env_values = true)]
    pub person_key: Option<String>,
    /// Connections in the database pool.
    #[arg(long, env = "PHOTO_LEDGER_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
}

const PERSON_KEY_FILE: &str = "person-key.secret";

impl StoreSettings {
    pub fn embedded(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            database_url: None,
            person_key: None,
            db_connections: 16,
        }
    }

    /// The person keyer: the configured secret, else one kept in the data directory.
    pub fn person_keyer(&self) -> anyhow::Result<PersonKeyer> {
        if let Some(secret) = &self.person_key {
            return Ok(PersonKeyer::new(secret.as_bytes().to_vec()));
        }
        let path = self.data_dir.join(PERSON_KEY_FILE);
        if let Ok(secret) = std::fs::read_to_string(&path) {
            return Ok(PersonKeyer::new(secret.trim().as_bytes().to_vec()));
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        std::fs::write(&path, &secret)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(PersonKeyer::new(secret.into_bytes()))
    }
}
