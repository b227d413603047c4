//! The OpenID Connect provider's records: clients, consents and authorization
//! codes. Lists are stored as text arrays.

use aegis_core::keys::SigningAlg;
use aegis_core::oidc::{AuthCode, Client, CodeUse, Consent, Grant};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::convert::{corrupt, hash32};
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grants: Vec<String>,
    public: bool,
    first_party: bool,
    id_token_alg: String,
    jwks: Option<String>,
    scopes: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
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
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            public: self.public,
            first_party: self.first_party,
            grants: self
                .grants
                .iter()
                .map(|g| Grant::parse(g).ok_or_else(|| corrupt("oidc_clients.grants")))
                .collect::<Result<_>>()?,
            id_token_alg: SigningAlg::parse(&self.id_token_alg)
                .ok_or_else(|| corrupt("oidc_clients.id_token_alg"))?,
            jwks: self.jwks,
            scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ConsentRow {
    user_id: Uuid,
    client_id: String,
    scopes: Vec<String>,
    granted_at: DateTime<Utc>,
}

impl ConsentRow {
    fn into_consent(self) -> Result<Consent> {
        Ok(Consent {
            user_id: self.user_id,
            client_id: self.client_id,
            scopes: self.scopes,
            granted_at: self.granted_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    hash: Vec<u8>,
    client_id: String,
    user_id: Uuid,
    session_id: Uuid,
    redirect_uri: String,
    scopes: Vec<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: DateTime<Utc>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

impl CodeRow {
    fn into_code(self) -> Result<AuthCode> {
        Ok(AuthCode {
            hash: hash32(self.hash, "oidc_codes.hash")?,
            client_id: self.client_id,
            user_id: self.user_id,
            session_id: self.session_id,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
        })
    }
}

fn grant_names(grants: &[Grant]) -> Vec<&'static str> {
    grants.iter().map(|g| g.as_str()).collect()
}

pub(super) async fn insert_client(pool: &PgPool, client: &Client) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, \
         post_logout_redirect_uris, grants, public, first_party, id_token_alg, jwks, \
         created_at, updated_at, scopes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(client.secret_hash.as_ref().map(|h| &h[..]))
    .bind(&client.redirect_uris)
    .bind(&client.post_logout_redirect_uris)
    .bind(grant_names(&client.grants))
    .bind(client.public)
    .bind(client.first_party)
    .bind(client.id_token_alg.as_str())
    .bind(&client.jwks)
    .bind(client.created_at)
    .bind(client.updated_at)
    .bind(client.scopes.join(" "))
    .execute(pool)
    .await
    .on_insert("client_id", "client")?;
    Ok(())
}

pub(super) async fn find_client(pool: &PgPool, id: &str) -> Result<Option<Client>> {
    let row: Option<ClientRow> = sqlx::query_as("SELECT * FROM oidc_clients WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(ClientRow::into_client).transpose()
}

pub(super) async fn list_clients(pool: &PgPool) -> Result<Vec<Client>> {
    let rows: Vec<ClientRow> =
        sqlx::query_as("SELECT * FROM oidc_clients ORDER BY name COLLATE \"C\", id COLLATE \"C\"")
            .fetch_all(pool)
            .await
            .db()?;
    rows.into_iter().map(ClientRow::into_client).collect()
}

pub(super) async fn update_client(pool: &PgPool, client: &Client) -> Result<()> {
    let done = sqlx::query(
        "UPDATE oidc_clients SET name = $2, secret_hash = $3, redirect_uris = $4, \
         post_logout_redirect_uris = $5, grants = $6, public = $7, first_party = $8, \
         id_token_alg = $9, jwks = $10, updated_at = $11, scopes = $12 \
         WHERE id = $1",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(client.secret_hash.as_ref().map(|h| &h[..]))
    .bind(&client.redirect_uris)
    .bind(&client.post_logout_redirect_uris)
    .bind(grant_names(&client.grants))
    .bind(client.public)
    .bind(client.first_party)
    .bind(client.id_token_alg.as_str())
    .bind(&client.jwks)
    .bind(client.updated_at)
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
    pool: &PgPool,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Option<Vec<Uuid>>> {
    let mut tx = pool.begin().await.db()?;
    let done = sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .db()?;
    if done.rows_affected() == 0 {
        tx.rollback().await.db()?;
        return Ok(None);
    }
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE client_id = $2 AND revoked_at IS NULL RETURNING id",
    )
    .bind(at)
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(Some(ids))
}

/// Which parent of a refused insert is missing: the client, else the user,
/// else the session (when there is one to check).
async fn missing_parent(conn: &mut PgConnection, client: &str, user: Uuid) -> Result<&'static str> {
    let (client, user): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM oidc_clients WHERE id = $1), \
         EXISTS (SELECT 1 FROM users WHERE id = $2)",
    )
    .bind(client)
    .bind(user)
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

pub(super) async fn upsert_consent(pool: &PgPool, consent: &Consent) -> Result<()> {
    let mut conn = pool.acquire().await.db()?;
    let done = sqlx::query(
        "INSERT INTO oidc_consents (user_id, client_id, scopes, granted_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, client_id) \
         DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
    )
    .bind(consent.user_id)
    .bind(&consent.client_id)
    .bind(&consent.scopes)
    .bind(consent.granted_at)
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
    pool: &PgPool,
    user: Uuid,
    client: &str,
) -> Result<Option<Consent>> {
    let row: Option<ConsentRow> =
        sqlx::query_as("SELECT * FROM oidc_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user)
            .bind(client)
            .fetch_optional(pool)
            .await
            .db()?;
    row.map(ConsentRow::into_consent).transpose()
}

pub(super) async fn list_consents(pool: &PgPool, user: Uuid) -> Result<Vec<Consent>> {
    let rows: Vec<ConsentRow> = sqlx::query_as(
        "SELECT * FROM oidc_consents WHERE user_id = $1 ORDER BY client_id COLLATE \"C\"",
    )
    .bind(user)
    .fetch_all(pool)
    .await
    .db()?;
    rows.into_iter().map(ConsentRow::into_consent).collect()
}

/// Deletes the consent, then revokes the user's live sessions of the client,
/// in one write transaction.
pub(super) async fn delete_consent(
    pool: &PgPool,
    user: Uuid,
    client: &str,
    at: DateTime<Utc>,
) -> Result<Option<Vec<Uuid>>> {
    let mut tx = pool.begin().await.db()?;
    let done = sqlx::query("DELETE FROM oidc_consents WHERE user_id = $1 AND client_id = $2")
        .bind(user)
        .bind(client)
        .execute(&mut *tx)
        .await
        .db()?;
    if done.rows_affected() == 0 {
        tx.rollback().await.db()?;
        return Ok(None);
    }
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE client_id = $2 AND user_id = $3 AND revoked_at IS NULL RETURNING id",
    )
    .bind(at)
    .bind(client)
    .bind(user)
    .fetch_all(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(Some(ids))
}

pub(super) async fn insert_code(pool: &PgPool, code: &AuthCode) -> Result<()> {
    let mut conn = pool.acquire().await.db()?;
    let done = sqlx::query(
        "INSERT INTO oidc_codes (hash, client_id, user_id, session_id, redirect_uri, scopes, \
         nonce, code_challenge, auth_time, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&code.hash[..])
    .bind(&code.client_id)
    .bind(code.user_id)
    .bind(code.session_id)
    .bind(&code.redirect_uri)
    .bind(&code.scopes)
    .bind(&code.nonce)
    .bind(&code.code_challenge)
    .bind(code.auth_time)
    .bind(code.created_at)
    .bind(code.expires_at)
    .bind(code.used_at)
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
    pool: &PgPool,
    hash: &[u8; 32],
    at: DateTime<Utc>,
) -> Result<Option<CodeUse>> {
    let first: Option<CodeRow> = sqlx::query_as(
        "UPDATE oidc_codes SET used_at = $1 WHERE hash = $2 AND used_at IS NULL RETURNING *",
    )
    .bind(at)
    .bind(&hash[..])
    .fetch_optional(pool)
    .await
    .db()?;
    if let Some(row) = first {
        return row.into_code().map(|c| Some(CodeUse::First(c)));
    }
    let again: Option<CodeRow> = sqlx::query_as("SELECT * FROM oidc_codes WHERE hash = $1")
        .bind(&hash[..])
        .fetch_optional(pool)
        .await
        .db()?;
    again
        .map(|row| row.into_code().map(CodeUse::Again))
        .transpose()
}
