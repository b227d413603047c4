//! The storage contract. Implemented by aegis-store for SQLite and PostgreSQL;
//! every method is a plain operation, every rule lives in the services.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use uuid::Uuid;

use std::collections::HashMap;

use crate::api_token::{ApiToken, ApiTokenListing};
use crate::error::Result;
use crate::group::{Group, GroupUpdate};
use crate::import::{
    Batch, Counters, ImportJob, ImportSource, JobStatus, RowReport, RowStatus, Turn,
};
use crate::mfa::{Factor, FactorKind};
use crate::oidc::{AuthCode, Client, CodeUse, Consent};
use crate::pattern::Pattern;
use crate::query::{Page, UserQuery};
use crate::session::{LoginCode, RefreshToken, Session, SessionQuery};
use crate::throttle::ThrottleState;
use crate::user::{NewUser, User, UserUpdate};

/// A stored signing key; the private half is encrypted under the key-encryption key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub algorithm: String,
    /// Raw public key.
    pub public_key: Vec<u8>,
    /// Nonce followed by the AEAD ciphertext of the PKCS#8 private key.
    pub private_key_enc: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// Whether a user change must leave at least one active admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminGuard {
    /// No check (the operator's own tools).
    Off,
    /// Refuse with `LastAdmin` to demote, deactivate or delete the last active admin.
    KeepOneActive,
}

/// A change other instances must drop from their caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    User(Uuid),
    Session(Uuid),
    ApiToken([u8; 32]),
    /// Drop everything (e.g. after a missed notification).
    All,
}

impl Invalidation {
    /// Compact text form used on the wire between instances.
    pub fn encode(&self) -> String {
        match self {
            Invalidation::User(id) => format!("u:{id}"),
            Invalidation::Session(id) => format!("s:{id}"),
            Invalidation::ApiToken(h) => {
                let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
                format!("t:{hex}")
            }
            Invalidation::All => "*".into(),
        }
    }

    /// Parses [`Invalidation::encode`]'s form; anything unknown means "drop all".
    pub fn decode(s: &str) -> Self {
        let parse = || -> Option<Self> {
            let (kind, v) = s.split_once(':')?;
            match kind {
                "u" => Uuid::parse_str(v).ok().map(Invalidation::User),
                "s" => Uuid::parse_str(v).ok().map(Invalidation::Session),
                "t" if v.len() == 64 => {
                    let mut h = [0u8; 32];
                    for (i, b) in h.iter_mut().enumerate() {
                        *b = u8::from_str_radix(v.get(2 * i..2 * i + 2)?, 16).ok()?;
                    }
                    Some(Invalidation::ApiToken(h))
                }
                _ => None,
            }
        };
        parse().unwrap_or(Invalidation::All)
    }
}

/// A database connection pool, as metrics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Most connections the pool opens.
    pub max: u32,
}

/// Persistence for users, sessions, tokens, keys and throttle counters.
///
/// `get_*` fail with `NotFound`, `find_*` return `None`; uniqueness violations
/// are `Conflict { field }` with field `username`, `email` or `identifier`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// Inserts a user; usernames and emails are unique across each other.
    async fn insert_user(&self, user: &NewUser) -> Result<User>;
    /// A user by id.
    async fn get_user(&self, id: Uuid) -> Result<User>;
    /// A user by id, if it exists.
    async fn find_user(&self, id: Uuid) -> Result<Option<User>>;
    /// A user and its password hash by normalised username or email.
    async fn find_user_by_identifier(&self, ident: &str) -> Result<Option<(User, Option<String>)>>;
    /// The password hash of a user.
    async fn get_password_hash(&self, id: Uuid) -> Result<Option<String>>;
    /// Applies a partial update and returns the new record. With
    /// [`AdminGuard::KeepOneActive`], fails with `LastAdmin` (changing nothing) when
    /// the user was an active admin and no active admin would remain; the check and
    /// the write are atomic against concurrent guarded changes.
    async fn update_user(
        &self,
        id: Uuid,
        update: &UserUpdate,
        at: DateTime<Utc>,
        guard: AdminGuard,
    ) -> Result<User>;
    /// Deletes a user with its sessions, refresh tokens, second factors, recovery
    /// codes and the API tokens it owns or created; `guard` as for
    /// [`Store::update_user`].
    async fn delete_user(&self, id: Uuid, guard: AdminGuard) -> Result<()>;
    /// Users whose login key (email, else username) matches `pattern`, ascending
    /// by login key, at most `limit`, with the total number of matches. A pattern
    /// with a literal prefix must be served by an index range scan.
    async fn list_users_matching(&self, pattern: &Pattern, limit: u32) -> Result<(Vec<User>, u64)>;
    /// Records a successful login.
    async fn record_login(&self, id: Uuid, at: DateTime<Utc>, ip: Option<&str>) -> Result<()>;
    /// Number of active admins.
    async fn count_active_admins(&self) -> Result<u64>;
    /// Sessions neither revoked nor ended at `now`.
    async fn count_active_sessions(&self, now: DateTime<Utc>) -> Result<u64>;
    /// The connection pool's state (for metrics).
    fn pool_state(&self) -> PoolState {
        PoolState::default()
    }

    /// A filtered, ordered page of users (keyset pagination, index-backed).
    async fn query_users(&self, query: &UserQuery) -> Result<Page<User>>;
    /// Group ids of each of the given users (users without groups may be absent).
    async fn group_ids_of(&self, users: &[Uuid]) -> Result<HashMap<Uuid, Vec<Uuid>>>;

    /// Inserts a group; a name taken case-insensitively is `Conflict { field: "name" }`.
    async fn insert_group(&self, group: &Group) -> Result<()>;
    /// A group by id.
    async fn find_group(&self, id: Uuid) -> Result<Option<Group>>;
    /// Applies a partial change; unknown id → `NotFound("group")`.
    async fn update_group(
        &self,
        id: Uuid,
        update: &GroupUpdate,
        at: DateTime<Utc>,
    ) -> Result<Group>;
    /// Deletes a group and its memberships; false if there was none.
    async fn delete_group(&self, id: Uuid) -> Result<bool>;
    /// Groups ordered by name (case-insensitive), after the given name key and id,
    /// at most `size`, with the total count.
    async fn list_groups(&self, after: Option<(String, Uuid)>, size: u32) -> Result<Page<Group>>;
    /// Adds a user to groups atomically and idempotently. If a group does not
    /// exist nothing is assigned and its id is returned.
    async fn assign_groups(
        &self,
        user: Uuid,
        groups: &[Uuid],
        at: DateTime<Utc>,
    ) -> Result<Option<Uuid>>;
    /// Removes a user from a group (no-op when not a member).
    async fn remove_group(&self, user: Uuid, group: Uuid) -> Result<()>;
    /// The groups of a user, ordered by name.
    async fn groups_of(&self, user: Uuid) -> Result<Vec<Group>>;
    /// Members of a group ordered by id, after `after`, at most `size`, with the total.
    async fn group_members(
        &self,
        group: Uuid,
        after: Option<Uuid>,
        size: u32,
    ) -> Result<Page<User>>;

    /// Inserts a session with its first refresh token.
    async fn insert_session(&self, session: &Session, refresh: &RefreshToken) -> Result<()>;
    /// A session by id.
    async fn find_session(&self, id: Uuid) -> Result<Option<Session>>;
    /// Revokes one session and the live sessions opened from it
    /// (`parent_id`); false if it was already revoked or does not exist.
    async fn revoke_session(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool>;
    /// Revokes every live session of a user but `except`; returns their ids.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        except: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>>;
    /// A filtered, ordered page of the sessions live at `now` (not revoked, not
    /// expired), each with its user (keyset pagination, index-backed). A
    /// condition or cursor whose value does not fit its field is `InvalidField`.
    async fn query_sessions(
        &self,
        query: &SessionQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<(Session, User)>>;
    /// A refresh token by hash.
    async fn find_refresh_token(&self, hash: &[u8; 32]) -> Result<Option<RefreshToken>>;
    /// Marks a refresh token used (only if it was unused) and inserts its
    /// successor, atomically; false when another request used it first.
    async fn use_refresh_token(
        &self,
        hash: &[u8; 32],
        at: DateTime<Utc>,
        next: Option<&RefreshToken>,
    ) -> Result<bool>;

    /// Inserts an API token.
    async fn insert_api_token(&self, token: &ApiToken) -> Result<()>;
    /// An API token by the hash of its secret.
    async fn find_api_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiToken>>;
    /// An API token by id.
    async fn find_api_token(&self, id: Uuid) -> Result<Option<ApiToken>>;
    /// Records a use of an API token.
    async fn touch_api_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Deletes an API token; false if there was none.
    async fn delete_api_token(&self, id: Uuid) -> Result<bool>;
    /// API tokens of a provider, newest first, optionally only one owner's, each
    /// with the login key of its creator (of its owner when the operator made it).
    async fn list_api_tokens(
        &self,
        provider: &str,
        owner: Option<Uuid>,
    ) -> Result<Vec<ApiTokenListing>>;

    /// All signing keys, oldest first.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Inserts a signing key.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<()>;

    /// The throttle state of a key.
    async fn find_throttle(&self, key: &str) -> Result<Option<ThrottleState>>;
    /// Counts one failure atomically; a count whose first failure is before
    /// `window_start` (or whose lock has ended) starts again at 1.
    async fn record_failure(
        &self,
        key: &str,
        at: DateTime<Utc>,
        window_start: DateTime<Utc>,
    ) -> Result<ThrottleState>;
    /// Locks a key until the given time.
    async fn lock_throttle(&self, key: &str, until: DateTime<Utc>) -> Result<()>;
    /// Forgets a key's failures.
    async fn clear_throttle(&self, key: &str) -> Result<()>;

    /// Stores a new second factor.
    async fn insert_factor(&self, factor: &Factor) -> Result<()>;
    /// The factors of these users (enabled or not), oldest first per user.
    async fn factors_of(&self, users: &[Uuid]) -> Result<Vec<Factor>>;
    /// Enables a user's pending factor and records `step` as its last accepted
    /// one; false when the user has no such factor or it is already enabled (so
    /// a second confirmation cannot roll its step back).
    async fn enable_factor(
        &self,
        user: Uuid,
        id: Uuid,
        step: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Records `step` as the last accepted step of an enabled factor, only if it
    /// is later than the one recorded (atomic: of two logins racing with one
    /// code, one wins); true when recorded.
    async fn advance_factor_step(&self, id: Uuid, step: u64, at: DateTime<Utc>) -> Result<bool>;
    /// Replaces an enabled factor's stored credential (a passkey's signature
    /// counter moved on); false when there is no such enabled factor.
    async fn update_factor_credential(
        &self,
        id: Uuid,
        credential: &str,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Records a single-use value (its hash) as used until `expires_at`; false
    /// when it already was (atomic: of two uses racing, one wins).
    async fn spend_nonce(&self, hash: &[u8; 32], expires_at: DateTime<Utc>) -> Result<bool>;
    /// Deletes a user's factor; false when the user has no such factor.
    async fn delete_factor(&self, user: Uuid, id: Uuid) -> Result<bool>;
    /// Deletes a user's factors of `kind` that are not enabled (abandoned
    /// enrollments); returns how many went.
    async fn delete_pending_factors(&self, user: Uuid, kind: FactorKind) -> Result<u64>;

    /// Replaces a user's recovery codes (hashes) with a new set.
    async fn replace_recovery_codes(
        &self,
        user: Uuid,
        hashes: &[[u8; 32]],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Marks an unused recovery code of the user used; true when it was one
    /// (atomic: a code is used once).
    async fn use_recovery_code(
        &self,
        user: Uuid,
        hash: &[u8; 32],
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user: Uuid) -> Result<u32>;

    /// Records a source being uploaded; it is invisible to `find_import_source`
    /// until [`Store::complete_import_source`].
    async fn create_import_source(&self, source: &ImportSource) -> Result<()>;
    /// Stores chunk `seq` (from 0) of an uploading source.
    async fn put_import_chunk(&self, source: Uuid, seq: u32, data: &[u8]) -> Result<()>;
    /// Marks a source complete with its fields, size and chunk count.
    async fn complete_import_source(&self, source: &ImportSource) -> Result<()>;
    /// Deletes a source and its chunks (an upload that failed); no-op when absent.
    async fn delete_import_source(&self, id: Uuid) -> Result<()>;
    /// A complete, unexpired-or-not source by id.
    async fn find_import_source(&self, id: Uuid) -> Result<Option<ImportSource>>;
    /// Chunk `seq` of a source, if stored.
    async fn get_import_chunk(&self, source: Uuid, seq: u32) -> Result<Option<Vec<u8>>>;

    /// Inserts a job (status pending, no lease).
    async fn insert_import_job(&self, job: &ImportJob) -> Result<()>;
    /// A job by id.
    async fn find_import_job(&self, id: Uuid) -> Result<Option<ImportJob>>;
    /// Every job, oldest first.
    async fn list_import_jobs(&self) -> Result<Vec<ImportJob>>;
    /// Takes the oldest pending job whose lease is free or ended before `now`,
    /// leasing it to `owner` until `until`. Concurrent claimants never get the
    /// same job (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_import_job(
        &self,
        owner: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ImportJob>>;
    /// In one transaction: creates the batch's users, except those whose email or
    /// username exists (or appears earlier in the batch), which are skipped with the
    /// existing user's id; records every row's outcome, as [`Store::import_rows`]
    /// gives it back; adds the outcomes to
    /// the job's counters; moves its checkpoint to `batch.offset`; extends the lease
    /// to `until`, moved by the time the batch waited for its turn
    /// ([`Turn::lease_end`]). Fails with `Conflict { field: "lease" }` (writing
    /// nothing) when `owner` no longer holds the job's lease. Returns the new
    /// counters.
    ///
    /// It touches the job only once `turn` comes ([`Turn::wait`]), and writes
    /// nothing when the turn is refused; the users and rows may be written before.
    async fn commit_import_batch(
        &self,
        job: Uuid,
        owner: Uuid,
        batch: &Batch,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
        turn: &mut Turn,
    ) -> Result<Counters>;
    /// How many import batches to write at once (each commits after the one
    /// before it). PostgreSQL writes them in parallel, a backend process each;
    /// SQLite has one writer at a time.
    fn parallel_import_batches(&self) -> usize {
        1
    }
    /// Ends a job held by `owner` with `status` (and the reason for a failure),
    /// releasing the lease; `Conflict { field: "lease" }` when not held.
    async fn finish_import_job(
        &self,
        job: Uuid,
        owner: Uuid,
        status: JobStatus,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Gives up `owner`'s lease on a pending job (a graceful shutdown), so
    /// another instance, or this one restarted, resumes it from its checkpoint at
    /// once; false when `owner` did not hold it.
    async fn release_import_job(&self, job: Uuid, owner: Uuid) -> Result<bool>;
    /// The recorded rows of a job with one of `statuses`, in row order, at most `limit`.
    async fn import_rows(
        &self,
        job: Uuid,
        statuses: &[RowStatus],
        limit: u32,
    ) -> Result<Vec<RowReport>>;
    /// Adds a refresh token to an existing session's family; an unknown session
    /// is `NotFound("session")`.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    /// Stores a new login code; an unknown session or user is `NotFound("session")`.
    async fn insert_login_code(&self, code: &LoginCode) -> Result<()>;
    /// Marks the code with this hash used, only if it is unused and expires after
    /// `at`, and returns it (atomic: of two requests racing with one code, one
    /// gets it); `None` otherwise.
    async fn use_login_code(&self, hash: &[u8; 32], at: DateTime<Utc>)
        -> Result<Option<LoginCode>>;

    /// Inserts an OpenID Connect client; a taken id is `Conflict { field: "client_id" }`.
    async fn insert_client(&self, client: &Client) -> Result<()>;
    /// A client by id.
    async fn find_client(&self, id: &str) -> Result<Option<Client>>;
    /// Every client, ordered by name then id.
    async fn list_clients(&self) -> Result<Vec<Client>>;
    /// Replaces a client's record (everything but `id` and `created_at`);
    /// `NotFound("client")` when there is none.
    async fn update_client(&self, client: &Client) -> Result<()>;
    /// Deletes a client with its consents and codes, and revokes its live
    /// sessions at `at`; `None` when there was no such client, else the ids
    /// of the sessions revoked.
    async fn delete_client(&self, id: &str, at: DateTime<Utc>) -> Result<Option<Vec<Uuid>>>;

    /// Records (or replaces) a user's consent to a client.
    async fn upsert_consent(&self, consent: &Consent) -> Result<()>;
    /// A user's consent to a client.
    async fn find_consent(&self, user: Uuid, client: &str) -> Result<Option<Consent>>;
    /// A user's consents, ordered by client id.
    async fn list_consents(&self, user: Uuid) -> Result<Vec<Consent>>;
    /// Withdraws a user's consent to a client and revokes the user's live
    /// sessions of that client at `at`; `None` when there was no consent, else
    /// the ids of the sessions revoked.
    async fn delete_consent(
        &self,
        user: Uuid,
        client: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<Uuid>>>;

    /// The newest unrevoked session of `client` opened from the browser
    /// session `parent` (the caller checks its expiry).
    async fn find_child_session(&self, parent: Uuid, client: &str) -> Result<Option<Session>>;

    /// Stores a new authorization code; an unknown client, user or session is
    /// `NotFound`.
    async fn insert_auth_code(&self, code: &AuthCode) -> Result<()>;
    /// Marks the code with this hash used at `at` if it was unused (atomic: of
    /// two exchanges racing, one gets `First`), and returns it; `None` when no
    /// code has this hash. Expiry is the caller's to check.
    async fn use_auth_code(&self, hash: &[u8; 32], at: DateTime<Utc>) -> Result<Option<CodeUse>>;

    /// Deletes sources (complete or not, with their chunks) whose `expires_at` is
    /// before `now`; returns how many went.
    async fn purge_import_sources(&self, now: DateTime<Utc>) -> Result<u64>;

    /// Deletes API tokens, sessions (with their refresh tokens and login codes),
    /// login codes, authorization codes and throttle counters whose life ended before `before`;
    /// returns how many rows went.
    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64>;

    /// Tells other instances sharing this store to drop a cached entry.
    async fn publish(&self, _change: &Invalidation) -> Result<()> {
        Ok(())
    }
    /// Changes published by other instances, if the backend carries them.
    fn subscribe(&self) -> Option<broadcast::Receiver<Invalidation>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_round_trip() {
        let id = Uuid::now_v7();
        for inv in [
            Invalidation::User(id),
            Invalidation::Session(id),
            Invalidation::ApiToken([7u8; 32]),
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::decode(&inv.encode()), inv);
        }
        assert_eq!(Invalidation::decode("junk"), Invalidation::All);
        assert_eq!(Invalidation::decode("t:zz"), Invalidation::All);
    }
}
