//! The SQLite backend: one database file (or memory) in WAL mode.
//!
//! Timestamps are unix microseconds, UUIDs hyphenated text. Every multi-statement
//! write runs in a `BEGIN IMMEDIATE` transaction so concurrent writers queue on the
//! busy timeout instead of deadlocking on a lock upgrade.

mod api_tokens;
mod groups;
mod imports;
mod keys;
mod login_codes;
mod mfa;
mod oidc;
mod purge;
mod search;
mod sessions;
mod throttle;
mod user_query;
mod users;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use aegis_core::api_token::{ApiToken, ApiTokenListing};
use aegis_core::group::{Group, GroupUpdate};
use aegis_core::import::{
    Batch, Counters, ImportJob, ImportSource, JobStatus, RowReport, RowStatus, Turn,
};
use aegis_core::mfa::{Factor, FactorKind};
use aegis_core::oidc::{AuthCode, Client, CodeUse, Consent};
use aegis_core::pattern::Pattern;
use aegis_core::query::{Page, UserQuery};
use aegis_core::session::{LoginCode, RefreshToken, Session, SessionQuery};
use aegis_core::store::{AdminGuard, SigningKeyRecord};
use aegis_core::throttle::ThrottleState;
use aegis_core::user::{NewUser, User, UserUpdate};
use aegis_core::{Result, Store};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use crate::convert::corrupt;
use crate::error::{internal, DbResultExt};
use crate::StoreOptions;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// A [`Store`] on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens the database a `sqlite:` URL names, creating the file and its
    /// directory if missing, and applies pending migrations. `sqlite::memory:`
    /// gives a private in-memory database on a single connection.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with_options(url, StoreOptions::default()).await
    }

    /// [`SqliteStore::open`] with explicit [`StoreOptions`]: `timeout` bounds
    /// both the wait for a pooled connection and for another writer's lock.
    pub async fn open_with_options(url: &str, store: StoreOptions) -> Result<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| aegis_core::Error::invalid("database", "not a valid SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(store.timeout)
            .foreign_keys(true)
            // A bigger WAL between checkpoints: a page written by several commits in
            // a row (a bulk import's batches) is copied back once.
            .pragma("wal_autocheckpoint", "10000");
        let pool = if in_memory {
            // The database lives as long as its one connection.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    tokio::fs::create_dir_all(dir).await.map_err(|e| {
                        tracing::error!(error = %e, "cannot create the database directory");
                        aegis_core::Error::internal("cannot create the database directory")
                    })?;
                }
            }
            SqlitePoolOptions::new().max_connections(8)
        }
        .acquire_timeout(store.timeout)
        .connect_with(options)
        .await
        .map_err(internal)?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            tracing::error!(error = %e, "SQLite migration failed");
            aegis_core::Error::internal("migration failed")
        })?;
        Ok(Self { pool })
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Diagnostic: the `EXPLAIN QUERY PLAN` of the page and count queries that
    /// [`Store::list_users_matching`] runs for `pattern`, one `-- page` and one
    /// `-- count` section, each node on its own line. Used by the plan tests
    /// and the `users_prefix` benchmark to show the index range scan.
    pub async fn explain_users_matching(&self, pattern: &Pattern, limit: u32) -> Result<String> {
        search::explain(&self.pool, pattern, limit).await
    }

    /// Diagnostic: the `EXPLAIN QUERY PLAN` of every statement that
    /// [`Store::query_users`] may run for `query`, one `-- range N` section per
    /// index range and one `-- count`. Used by the plan tests and the
    /// `users_query` benchmark.
    pub async fn explain_query_users(&self, query: &UserQuery) -> Result<String> {
        user_query::explain(&self.pool, query).await
    }

    /// Diagnostic: runs [`Store::query_users`] once and returns its result with
    /// how long each statement took, rows fetched and decoded (`range N` per
    /// index range read, then `count`). Used by the `users_query` benchmark to
    /// split the page from the total.
    pub async fn time_query_users(
        &self,
        query: &UserQuery,
    ) -> Result<(Page<User>, Vec<(String, Duration)>)> {
        user_query::timed(&self.pool, query).await
    }
}

/// Starts a write transaction that holds the write lock from its first statement.
async fn begin_write(pool: &SqlitePool) -> sqlx::Result<Transaction<'static, Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// A timestamp as stored.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A stored timestamp.
fn time(v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt("timestamp"))
}

/// A stored optional timestamp.
fn opt_time(v: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    v.map(time).transpose()
}

/// A UUID as stored.
fn text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

/// A stored UUID.
fn uuid(v: &str) -> Result<Uuid> {
    Uuid::parse_str(v).map_err(|_| corrupt("uuid"))
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.db()?;
        Ok(())
    }

    fn pool_state(&self) -> aegis_core::store::PoolState {
        aegis_core::store::PoolState {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn count_active_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?1",
        )
        .bind(micros(now))
        .fetch_one(&self.pool)
        .await
        .db()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn insert_user(&self, user: &NewUser) -> Result<User> {
        users::insert(&self.pool, user).await
    }
    async fn get_user(&self, id: Uuid) -> Result<User> {
        users::find(&self.pool, id)
            .await?
            .ok_or(aegis_core::Error::NotFound("user"))
    }
    async fn find_user(&self, id: Uuid) -> Result<Option<User>> {
        users::find(&self.pool, id).await
    }
    async fn find_user_by_identifier(&self, ident: &str) -> Result<Option<(User, Option<String>)>> {
        users::find_by_identifier(&self.pool, ident).await
    }
    async fn get_password_hash(&self, id: Uuid) -> Result<Option<String>> {
        users::get_password_hash(&self.pool, id).await
    }
    async fn update_user(
        &self,
        id: Uuid,
        update: &UserUpdate,
        at: DateTime<Utc>,
        guard: AdminGuard,
    ) -> Result<User> {
        users::update(&self.pool, id, update, at, guard).await
    }
    async fn delete_user(&self, id: Uuid, guard: AdminGuard) -> Result<()> {
        users::delete(&self.pool, id, guard).await
    }
    async fn list_users_matching(&self, pattern: &Pattern, limit: u32) -> Result<(Vec<User>, u64)> {
        search::list_matching(&self.pool, pattern, limit).await
    }
    async fn record_login(&self, id: Uuid, at: DateTime<Utc>, ip: Option<&str>) -> Result<()> {
        users::record_login(&self.pool, id, at, ip).await
    }
    async fn count_active_admins(&self) -> Result<u64> {
        users::count_active_admins(&self.pool).await
    }

    async fn query_users(&self, query: &UserQuery) -> Result<Page<User>> {
        user_query::query(&self.pool, query).await
    }
    async fn group_ids_of(&self, users: &[Uuid]) -> Result<HashMap<Uuid, Vec<Uuid>>> {
        groups::ids_of(&self.pool, users).await
    }

    async fn insert_group(&self, group: &Group) -> Result<()> {
        groups::insert(&self.pool, group).await
    }
    async fn find_group(&self, id: Uuid) -> Result<Option<Group>> {
        groups::find(&self.pool, id).await
    }
    async fn update_group(
        &self,
        id: Uuid,
        update: &GroupUpdate,
        at: DateTime<Utc>,
    ) -> Result<Group> {
        groups::update(&self.pool, id, update, at).await
    }
    async fn delete_group(&self, id: Uuid) -> Result<bool> {
        groups::delete(&self.pool, id).await
    }
    async fn list_groups(&self, after: Option<(String, Uuid)>, size: u32) -> Result<Page<Group>> {
        groups::list(&self.pool, after, size).await
    }
    async fn assign_groups(
        &self,
        user: Uuid,
        groups: &[Uuid],
        at: DateTime<Utc>,
    ) -> Result<Option<Uuid>> {
        groups::assign(&self.pool, user, groups, at).await
    }
    async fn remove_group(&self, user: Uuid, group: Uuid) -> Result<()> {
        groups::remove(&self.pool, user, group).await
    }
    async fn groups_of(&self, user: Uuid) -> Result<Vec<Group>> {
        groups::of_user(&self.pool, user).await
    }
    async fn group_members(
        &self,
        group: Uuid,
        after: Option<Uuid>,
        size: u32,
    ) -> Result<Page<User>> {
        groups::members(&self.pool, group, after, size).await
    }

    async fn insert_session(&self, session: &Session, refresh: &RefreshToken) -> Result<()> {
        sessions::insert(&self.pool, session, refresh).await
    }
    async fn find_session(&self, id: Uuid) -> Result<Option<Session>> {
        sessions::find(&self.pool, id).await
    }
    async fn revoke_session(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
        sessions::revoke(&self.pool, id, at).await
    }
    async fn find_child_session(&self, parent: Uuid, client: &str) -> Result<Option<Session>> {
        sessions::find_child(&self.pool, parent, client).await
    }
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        except: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        sessions::revoke_for_user(&self.pool, user_id, except, at).await
    }
    async fn query_sessions(
        &self,
        query: &SessionQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<(Session, User)>> {
        sessions::query(&self.pool, query, now).await
    }
    async fn find_refresh_token(&self, hash: &[u8; 32]) -> Result<Option<RefreshToken>> {
        sessions::find_refresh_token(&self.pool, hash).await
    }
    async fn use_refresh_token(
        &self,
        hash: &[u8; 32],
        at: DateTime<Utc>,
        next: Option<&RefreshToken>,
    ) -> Result<bool> {
        sessions::use_refresh_token(&self.pool, hash, at, next).await
    }

    async fn insert_api_token(&self, token: &ApiToken) -> Result<()> {
        api_tokens::insert(&self.pool, token).await
    }
    async fn find_api_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiToken>> {
        api_tokens::find_by_hash(&self.pool, hash).await
    }
    async fn find_api_token(&self, id: Uuid) -> Result<Option<ApiToken>> {
        api_tokens::find(&self.pool, id).await
    }
    async fn touch_api_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        api_tokens::touch(&self.pool, id, at).await
    }
    async fn delete_api_token(&self, id: Uuid) -> Result<bool> {
        api_tokens::delete(&self.pool, id).await
    }
    async fn list_api_tokens(
        &self,
        provider: &str,
        owner: Option<Uuid>,
    ) -> Result<Vec<ApiTokenListing>> {
        api_tokens::list(&self.pool, provider, owner).await
    }

    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        keys::list(&self.pool).await
    }
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<()> {
        keys::insert(&self.pool, key).await
    }

    async fn find_throttle(&self, key: &str) -> Result<Option<ThrottleState>> {
        throttle::find(&self.pool, key).await
    }
    async fn record_failure(
        &self,
        key: &str,
        at: DateTime<Utc>,
        window_start: DateTime<Utc>,
    ) -> Result<ThrottleState> {
        throttle::record_failure(&self.pool, key, at, window_start).await
    }
    async fn lock_throttle(&self, key: &str, until: DateTime<Utc>) -> Result<()> {
        throttle::lock(&self.pool, key, until).await
    }
    async fn clear_throttle(&self, key: &str) -> Result<()> {
        throttle::clear(&self.pool, key).await
    }

    async fn insert_factor(&self, factor: &Factor) -> Result<()> {
        mfa::insert(&self.pool, factor).await
    }
    async fn factors_of(&self, users: &[Uuid]) -> Result<Vec<Factor>> {
        mfa::of_users(&self.pool, users).await
    }
    async fn enable_factor(
        &self,
        user: Uuid,
        id: Uuid,
        step: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        mfa::enable(&self.pool, user, id, step, at).await
    }
    async fn advance_factor_step(&self, id: Uuid, step: u64, at: DateTime<Utc>) -> Result<bool> {
        mfa::advance_step(&self.pool, id, step, at).await
    }
    async fn delete_factor(&self, user: Uuid, id: Uuid) -> Result<bool> {
        mfa::delete(&self.pool, user, id).await
    }
    async fn update_factor_credential(
        &self,
        id: Uuid,
        credential: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        mfa::update_credential(&self.pool, id, credential, at).await
    }
    async fn spend_nonce(&self, hash: &[u8; 32], expires_at: DateTime<Utc>) -> Result<bool> {
        mfa::spend_nonce(&self.pool, hash, expires_at).await
    }
    async fn delete_pending_factors(&self, user: Uuid, kind: FactorKind) -> Result<u64> {
        mfa::delete_pending(&self.pool, user, kind).await
    }
    async fn replace_recovery_codes(
        &self,
        user: Uuid,
        hashes: &[[u8; 32]],
        at: DateTime<Utc>,
    ) -> Result<()> {
        mfa::replace_recovery_codes(&self.pool, user, hashes, at).await
    }
    async fn use_recovery_code(
        &self,
        user: Uuid,
        hash: &[u8; 32],
        at: DateTime<Utc>,
    ) -> Result<bool> {
        mfa::use_recovery_code(&self.pool, user, hash, at).await
    }
    async fn recovery_codes_left(&self, user: Uuid) -> Result<u32> {
        mfa::recovery_codes_left(&self.pool, user).await
    }

    async fn create_import_source(&self, source: &ImportSource) -> Result<()> {
        imports::create_source(&self.pool, source).await
    }
    async fn put_import_chunk(&self, source: Uuid, seq: u32, data: &[u8]) -> Result<()> {
        imports::put_chunk(&self.pool, source, seq, data).await
    }
    async fn complete_import_source(&self, source: &ImportSource) -> Result<()> {
        imports::complete_source(&self.pool, source).await
    }
    async fn delete_import_source(&self, id: Uuid) -> Result<()> {
        imports::delete_source(&self.pool, id).await
    }
    async fn find_import_source(&self, id: Uuid) -> Result<Option<ImportSource>> {
        imports::find_source(&self.pool, id).await
    }
    async fn get_import_chunk(&self, source: Uuid, seq: u32) -> Result<Option<Vec<u8>>> {
        imports::get_chunk(&self.pool, source, seq).await
    }
    async fn insert_import_job(&self, job: &ImportJob) -> Result<()> {
        imports::insert_job(&self.pool, job).await
    }
    async fn find_import_job(&self, id: Uuid) -> Result<Option<ImportJob>> {
        imports::find_job(&self.pool, id).await
    }
    async fn list_import_jobs(&self) -> Result<Vec<ImportJob>> {
        imports::list_jobs(&self.pool).await
    }
    async fn claim_import_job(
        &self,
        owner: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ImportJob>> {
        imports::claim_job(&self.pool, owner, now, until).await
    }
    async fn commit_import_batch(
        &self,
        job: Uuid,
        owner: Uuid,
        batch: &Batch,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
        turn: &mut Turn,
    ) -> Result<Counters> {
        imports::commit_batch(&self.pool, job, owner, batch, at, until, turn).await
    }
    async fn finish_import_job(
        &self,
        job: Uuid,
        owner: Uuid,
        status: JobStatus,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        imports::finish_job(&self.pool, job, owner, status, error, at).await
    }
    async fn release_import_job(&self, job: Uuid, owner: Uuid) -> Result<bool> {
        imports::release_job(&self.pool, job, owner).await
    }
    async fn import_rows(
        &self,
        job: Uuid,
        statuses: &[RowStatus],
        limit: u32,
    ) -> Result<Vec<RowReport>> {
        imports::rows(&self.pool, job, statuses, limit).await
    }
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        sessions::add_refresh_token(&self.pool, token).await
    }
    async fn insert_login_code(&self, code: &LoginCode) -> Result<()> {
        login_codes::insert(&self.pool, code).await
    }
    async fn use_login_code(
        &self,
        hash: &[u8; 32],
        at: DateTime<Utc>,
    ) -> Result<Option<LoginCode>> {
        login_codes::use_code(&self.pool, hash, at).await
    }
    async fn insert_client(&self, client: &Client) -> Result<()> {
        oidc::insert_client(&self.pool, client).await
    }
    async fn find_client(&self, id: &str) -> Result<Option<Client>> {
        oidc::find_client(&self.pool, id).await
    }
    async fn list_clients(&self) -> Result<Vec<Client>> {
        oidc::list_clients(&self.pool).await
    }
    async fn update_client(&self, client: &Client) -> Result<()> {
        oidc::update_client(&self.pool, client).await
    }
    async fn delete_client(&self, id: &str, at: DateTime<Utc>) -> Result<Option<Vec<Uuid>>> {
        oidc::delete_client(&self.pool, id, at).await
    }

    async fn upsert_consent(&self, consent: &Consent) -> Result<()> {
        oidc::upsert_consent(&self.pool, consent).await
    }
    async fn find_consent(&self, user: Uuid, client: &str) -> Result<Option<Consent>> {
        oidc::find_consent(&self.pool, user, client).await
    }
    async fn list_consents(&self, user: Uuid) -> Result<Vec<Consent>> {
        oidc::list_consents(&self.pool, user).await
    }
    async fn delete_consent(
        &self,
        user: Uuid,
        client: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<Uuid>>> {
        oidc::delete_consent(&self.pool, user, client, at).await
    }

    async fn insert_auth_code(&self, code: &AuthCode) -> Result<()> {
        oidc::insert_code(&self.pool, code).await
    }
    async fn use_auth_code(&self, hash: &[u8; 32], at: DateTime<Utc>) -> Result<Option<CodeUse>> {
        oidc::use_code(&self.pool, hash, at).await
    }

    async fn purge_import_sources(&self, now: DateTime<Utc>) -> Result<u64> {
        imports::purge_sources(&self.pool, now).await
    }

    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64> {
        purge::purge_expired(&self.pool, before).await
    }
}
