//! One handle for either store: PostgreSQL in production, an embedded SQLite file by default.
//!
//! Most SQL here is written once with `$N` placeholders, which both drivers accept, and run
//! through [`on_db!`], which expands the same code for each pool type.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::StoreError;

#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same code against whichever pool `db` holds.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Sqlite($pool) => $body,
        }
    };
}

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The embedded database's file inside the data directory.
pub const SQLITE_FILE: &str = "photo-ledger.sqlite3";

impl Db {
    /// Connects to PostgreSQL when `database_url` is a postgres URL, otherwise opens (creating if
    /// needed) the embedded SQLite file in `data_dir`.
    pub async fn connect(
        database_url: Option<&str>,
        data_dir: &Path,
        max_connections: u32,
    ) -> Result<Db, StoreError> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(
                Db::Postgres(Self::postgres_pool(url, max_connections).await?),
            ),
            Some(url) if url.starts_with("sqlite:") => {
                let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
                Ok(Db::Sqlite(
                    Self::sqlite_pool(options, max_connections).await?,
                ))
            }
            Some(other) => Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported database URL {other:?}: use postgres://… or sqlite:…").into(),
            ))),
            None => {
                std::fs::create_dir_all(data_dir)
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
                let options = SqliteConnectOptions::new()
                    .filename(data_dir.join(SQLITE_FILE))
                    .create_if_missing(true);
                Ok(Db::Sqlite(
                    Self::sqlite_pool(options, max_connections).await?,
                ))
            }
        }
    }

    pub async fn postgres_pool(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
        Ok(PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?)
    }

    async fn sqlite_pool(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<SqlitePool, StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // Deleted rows are overwritten with zeros, not left in free pages: an erased
            // person's view rows and data key leave nothing in the file.
            .pragma("secure_delete", "ON");
        Ok(SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}
