//! The OpenID Connect provider's records: clients, consents and authorization
//! codes. Lists are stored as JSON arrays of strings.

use aegis_core::keys::SigningAlg;
use aegis_core::oidc::{AuthCode, Client, CodeUse, Consent, Grant};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{begin_write, micros, opt_time, text, time, uuid};
use crate::convert::{corrupt, hash32};
use crate::error::DbResultExt;

/// A list as stored.
fn list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::Value::from(items).to_string()
}

/// A stored list.
fn strings(v: &str, column: &'static str) -> Result<Vec<String>> {
    serde_json::from_str(v).map_err(|_| corrupt(column))
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grants: String,
    public: bool,
    first_party: bool,
    id_token_alg: String,
    jwks: Option<String>,
    scopes: String,
    created_at: i64,
    updated_at: i64,
}

impl ClientRow {
    fn into_client(self) -> Result<Client> {
        Ok(Client {
            id: self.id,
            name: self.name,
            secret_hash: self
                .secret_hash
                .map(|h| hash32(h, "oidc_clients.secret_hash"))
                .transpose()?,
            redirect_uris: strings(&self.redirect_uris, "oidc_clients.redirect_uris")?,
            post_logout_redirect_uris: strings(
                &self.post_logout_redirect_uris,
                "oidc_clients.post_logout_redirect_uris",
            )?,
            public: self.public,
            first_party: self.first_party,
            grants: strings(&self.grants, "oidc_clients.grants")?
                .iter()
                .map(|g| Grant::parse(g).ok_or_else(|| corrupt("oidc_clients.grants")))
                .collect::<Result<_>>()?,
            id_token_alg: SigningAlg::parse(&self.id_token_alg)
                .ok_or_else(|| corrupt("oidc_clients.id_token_alg"))?,
            jwks: self.jwks,
            scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ConsentRow {
    user_id: String,
    client_id: String,
    scopes: String,
    granted_at: i64,
}

impl ConsentRow {
    fn into_consent(self) -> Result<Consent> {
        Ok(Consent {
            user_id: uuid(&self.user_id)?,
            client_id: self.client_id,
            scopes: strings(&self.scopes, "oidc_consents.scopes")?,
            granted_at: time(self.granted_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    hash: Vec<u8>,
    client_id: String,
    user_id: String,
    session_id: String,
    redirect_uri: String,
    scopes: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl CodeRow {
    fn into_code(self) -> Result<AuthCode> {
        Ok(AuthCode {
            hash: hash32(self.hash, "oidc_codes.hash")?,
            client_id: self.client_id,
            user_id: uuid(&self.user_id)?,
            session_id: uuid(&self.session_id)?,
            redirect_uri: self.redirect_uri,
            scopes: strings(&self.scopes, "oidc_codes.scopes")?,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            auth_time: time(self.auth_time)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            used_at: opt_time(self.used_at)?,
        })
    }
}

fn grant_names(grants: &[Grant]) -> Vec<&'static str> {
    grants.iter().map(|g| g.as_str()).collect()
}

pub(super) async fn insert_client(pool: &SqlitePool, client: &Client) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, \
         post_logout_redirect_uris, grants, public, first_party, id_token_alg, jwks, \
         created_at, updated_at, scopes) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(client.secret_hash.as_ref().map(|h| &h[..]))
    .bind(list(&client.redirect_uris))
    .bind(list(&client.post_logout_redirect_uris))
    .bind(list(&grant_names(&client.grants)))
    .bind(client.public)
    .bind(client.first_party)
    .bind(client.id_token_alg.as_str())
    .bind(&client.jwks)
    .bind(micros(client.created_at))
    .bind(micros(client.updated_at))
    .bind(client.scopes.join(" "))
    .execute(pool)
    .await
    .on_insert("client_id", "client")?;
    Ok(())
}

pub(super) async fn find_client(pool: &SqlitePool, id: &str) -> Result<Option<Client>> {
    let row: Option<ClientRow> = sqlx::query_as("SELECT * FROM oidc_clients WHERE id = ?1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(ClientRow::into_client).transpose()
}

pub(super) async fn list_clients(pool: &SqlitePool) -> Result<Vec<Client>> {
    let rows: Vec<ClientRow> = sqlx::query_as("SELECT * FROM oidc_clients ORDER BY name, id")
        .fetch_all(pool)
        .await
        .db()?;
    rows.into_iter().map(ClientRow::into_client).collect()
}

pub(super) async fn update_client(pool: &SqlitePool, client: &Client) -> Result<()> {
    let done = sqlx::query(
        "UPDATE oidc_clients SET name = ?2, secret_hash = ?3, redirect_uris = ?4, \
         post_logout_redirect_uris = ?5, grants = ?6, public = ?7, first_party = ?8, \
         id_token_alg = ?9, jwks = ?10, updated_at = ?11, scopes = ?12 \
         WHERE id = ?1",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(client.secret_hash.as_ref().map(|h| &h[..]))
    .bind(list(&client.redirect_uris))
    .bind(list(&client.post_logout_redirect_uris))
    .bind(list(&grant_names(&client.grants)))
    .bind(client.public)
    .bind(client.first_party)
    .bind(client.id_token_alg.as_str())
    .bind(&client.jwks)
    .bind(micros(client.updated_at))
    .bind(client.scopes.join(" "))
    .execute(pool)
    .await
    .db()?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("client"));
    }
    Ok(())
}

/// Deletes the client (its consents and codes follow by cascade), then revokes
/// its live sessions, in one write transaction.
pub(super) async fn delete_client(
    pool: &SqlitePool,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Option<Vec<Uuid>>> {
    let mut tx = begin_write(pool).await.db()?;
    let done = sqlx::query("DELETE FROM oidc_clients WHERE id = ?1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .db()?;
    if done.rows_affected() == 0 {
        tx.rollback().await.db()?;
        return Ok(None);
    }
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = ?1 \
         WHERE client_id = ?2 AND revoked_at IS NULL RETURNING id",
    )
    .bind(micros(at))
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    ids.iter()
        .map(|id| uuid(id))
        .collect::<Result<_>>()
        .map(Some)
}

/// Which parent of a refused insert is missing: the client, else the user,
/// else the session (when there is one to check).
async fn missing_parent(
    conn: &mut SqliteConnection,
    client: &str,
    user: Uuid,
) -> Result<&'static str> {
    let (client, user): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM oidc_clients WHERE id = ?1), \
         EXISTS (SELECT 1 FROM users WHERE id = ?2)",
    )
    .bind(client)
    .bind(text(user))
    .fetch_one(conn)
    .await
    .db()?;
    Ok(if !client {
        "client"
    } else if !user {
        "user"
    } else {
        "session"
    })
}

pub(super) async fn upsert_consent(pool: &SqlitePool, consent: &Consent) -> Result<()> {
    let mut conn = pool.acquire().await.db()?;
    let done = sqlx::query(
        "INSERT INTO oidc_consents (user_id, client_id, scopes, granted_at) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (user_id, client_id) \
         DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
    )
    .bind(text(consent.user_id))
    .bind(&consent.client_id)
    .bind(list(&consent.scopes))
    .bind(micros(consent.granted_at))
    .execute(&mut *conn)
    .await
    .on_insert("consent", "client");
    match done {
        Err(Error::NotFound(_)) => Err(Error::NotFound(
            missing_parent(&mut conn, &consent.client_id, consent.user_id).await?,
        )),
        other => other.map(drop),
    }
}

pub(super) async fn find_consent(
    pool: &SqlitePool,
    user: Uuid,
    client: &str,
) -> Result<Option<Consent>> {
    let row: Option<ConsentRow> =
        sqlx::query_as("SELECT * FROM oidc_consents WHERE user_id = ?1 AND client_id = ?2")
            .bind(text(user))
            .bind(client)
            .fetch_optional(pool)
            .await
            .db()?;
    row.map(ConsentRow::into_consent).transpose()
}

pub(super) async fn list_consents(pool: &SqlitePool, user: Uuid) -> Result<Vec<Consent>> {
    let rows: Vec<ConsentRow> =
        sqlx::query_as("SELECT * FROM oidc_consents WHERE user_id = ?1 ORDER BY client_id")
            .bind(text(user))
            .fetch_all(pool)
            .await
            .db()?;
    rows.into_iter().map(ConsentRow::into_consent).collect()
}

/// Deletes the consent, then revokes the user's live sessions of the client,
/// in one write transaction.
pub(super) async fn delete_consent(
    pool: &SqlitePool,
    user: Uuid,
    client: &str,
    at: DateTime<Utc>,
) -> Result<Option<Vec<Uuid>>> {
    let mut tx = begin_write(pool).await.db()?;
    let done = sqlx::query("DELETE FROM oidc_consents WHERE user_id = ?1 AND client_id = ?2")
        .bind(text(user))
        .bind(client)
        .execute(&mut *tx)
        .await
        .db()?;
    if done.rows_affected() == 0 {
        tx.rollback().await.db()?;
        return Ok(None);
    }
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = ?1 \
         WHERE client_id = ?2 AND user_id = ?3 AND revoked_at IS NULL RETURNING id",
    )
    .bind(micros(at))
    .bind(client)
    .bind(text(user))
    .fetch_all(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    ids.iter()
        .map(|id| uuid(id))
        .collect::<Result<_>>()
        .map(Some)
}

pub(super) async fn insert_code(pool: &SqlitePool, code: &AuthCode) -> Result<()> {
    let mut conn = pool.acquire().await.db()?;
    let done = sqlx::query(
        "INSERT INTO oidc_codes (hash, client_id, user_id, session_id, redirect_uri, scopes, \
         nonce, code_challenge, auth_time, created_at, expires_at, used_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .bind(&code.hash[..])
    .bind(&code.client_id)
    .bind(text(code.user_id))
    .bind(text(code.session_id))
    .bind(&code.redirect_uri)
    .bind(list(&code.scopes))
    .bind(&code.nonce)
    .bind(&code.code_challenge)
    .bind(micros(code.auth_time))
    .bind(micros(code.created_at))
    .bind(micros(code.expires_at))
    .bind(code.used_at.map(micros))
    .execute(&mut *conn)
    .await
    .on_insert("code", "session");
    match done {
        Err(Error::NotFound(_)) => Err(Error::NotFound(
            missing_parent(&mut conn, &code.client_id, code.user_id).await?,
        )),
        other => other.map(drop),
    }
}

/// One conditional statement marks the code: of concurrent uses exactly one
/// matches the row; the others read it back as spent.
pub(super) async fn use_code(
    pool: &SqlitePool,
    hash: &[u8; 32],
    at: DateTime<Utc>,
) -> Result<Option<CodeUse>> {
    let first: Option<CodeRow> = sqlx::query_as(
        "UPDATE oidc_codes SET used_at = ?1 WHERE hash = ?2 AND used_at IS NULL RETURNING *",
    )
    .bind(micros(at))
    .bind(&hash[..])
    .fetch_optional(pool)
    .await
    .db()?;
    if let Some(row) = first {
        return row.into_code().map(|c| Some(CodeUse::First(c)));
    }
    let again: Option<CodeRow> = sqlx::query_as("SELECT * FROM oidc_codes WHERE hash = ?1")
        .bind(&hash[..])
        .fetch_optional(pool)
        .await
        .db()?;
    again
        .map(|row| row.into_code().map(CodeUse::Again))
        .transpose()
}
