//! Staff accounts: reviewers, print staff (couriers) and admins, signing in with a username and
//! a password kept only as an argon2id hash. Hashing runs on [`CONCURRENT_HASHES`] threads of its
//! own, never on the async executor: each hash takes 19 MiB, so a flood of sign-ins waits its
//! turn instead of taking the server's memory.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use photo_ledger_domain::metadata::Role;
use photo_ledger_store::{on_db, Db};
use serde::Serialize;
use std::sync::LazyLock;

use crate::configuration::SignInLimits;
use crate::guessing::{Guess, GuessError};
use crate::work_pool::WorkPool;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaffAccount {
    pub username: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("username must be 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidUsername,
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("{0} is not a staff role: use reviewer, courier or admin")]
    NotAStaffRole(Role),
    #[error("wrong username or password")]
    BadCredentials,
    #[error(
        "too many wrong passwords for this account or from this address; locked until {until}"
    )]
    Locked { until: DateTime<Utc> },
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

impl From<GuessError> for StaffError {
    fn from(e: GuessError) -> Self {
        match e {
            GuessError::Locked { until } => StaffError::Locked { until },
            GuessError::Store(e) => StaffError::Store(e),
        }
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;

/// A hash checked when the username is unknown, so a wrong name takes as long as a wrong
/// password and names cannot be probed by timing.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("no such account").expect("hashing a constant works"));

fn hash_password(password: &str) -> Result<String, StaffError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hashing(e.to_string()))
}

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Password hashes computed at once, at most: argon2id takes 19 MiB for each.
pub const CONCURRENT_HASHES: usize = 2;

/// The threads password hashes run on.
static HASHERS: LazyLock<WorkPool> =
    LazyLock::new(|| WorkPool::new("password-hash", CONCURRENT_HASHES));

/// Runs a password hash on one of the hashing threads, once one is free.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StaffError> {
    HASHERS
        .run("password-hash", work)
        .await
        .map_err(|e| StaffError::Hashing(e.to_string()))
}

/// Adds an account, or sets the role and password of an existing one. Returns whether it is new.
pub async fn add(
    db: &Db,
    username: &str,
    role: Role,
    password: String,
    now: DateTime<Utc>,
) -> Result<bool, StaffError> {
    if !valid_username(username) {
        return Err(StaffError::InvalidUsername);
    }
    if !role.is_staff() {
        return Err(StaffError::NotAStaffRole(role));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StaffError::WeakPassword);
    }
    let hash = blocking(move || hash_password(&password)).await??;
    let existed: Option<(String,)> = on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let existed: Option<(String,)> = sqlx::query_as("SELECT username FROM staff WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO staff (username, role, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (username) DO UPDATE SET role = excluded.role,
                 password_hash = excluded.password_hash, updated_at = excluded.updated_at",
        )
        .bind(username)
        .bind(role.as_str())
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(existed)
    })?;
    Ok(existed.is_none())
}

/// A staff sign-in: who it claims to be, and where it comes from.
pub struct SignIn {
    pub username: String,
    pub password: String,
    /// The client's address, for the per-address limit.
    pub address: String,
    pub at: DateTime<Utc>,
}

/// Checks a username and password. Wrong passwords count against the username and the client's
/// address (see [`crate::guessing`]): at either's limit, sign-ins are refused until the lock
/// ends or an admin lifts it, whatever the password, and whether or not the account exists.
pub async fn authenticate(
    db: &Db,
    limits: &SignInLimits,
    sign_in: SignIn,
) -> Result<StaffAccount, StaffError> {
    let SignIn {
        username,
        password,
        address,
        at,
    } = sign_in;
    let mut guess = Guess::new(db, at);
    guess
        .reserve(&format!("address:{address}"), limits.per_address())
        .await?;
    // A name that cannot be an account's is counted against the address only, so what is kept
    // per name stays small.
    if valid_username(&username) {
        guess
            .reserve(&format!("staff:{username}"), limits.per_account())
            .await?;
    }
    match check_password(db, &username, password).await {
        Ok(account) => {
            guess.release().await;
            Ok(account)
        }
        Err(StaffError::BadCredentials) => {
            guess.wrong().await?;
            Err(StaffError::BadCredentials)
        }
        Err(other) => Err(other),
    }
}

async fn check_password(
    db: &Db,
    username: &str,
    password: String,
) -> Result<StaffAccount, StaffError> {
    let row: Option<(String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT role, password_hash FROM staff WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await)?;
    let (role, hash) = match row {
        Some((role, hash)) => (Role::parse(&role).filter(|r| r.is_staff()), hash),
        None => (None, DUMMY_HASH.clone()),
    };
    let matches = blocking(move || password_matches(&hash, &password)).await?;
    match role {
        Some(role) if matches => Ok(StaffAccount {
            username: username.to_string(),
            role,
        }),
        _ => Err(StaffError::BadCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_only_its_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches(&hash, "correct horse battery"));
        assert!(!password_matches(&hash, "correct horse battery!"));
        assert!(!password_matches("not a hash", "anything"));
    }

    #[test]
    fn usernames_are_plain() {
        assert!(valid_username("reviewer.li"));
        assert!(!valid_username(""));
        assert!(!valid_username("李老师"));
        assert!(!valid_username(&"a".repeat(65)));
    }
}
