//! Signing keys.

use aegis_core::store::SigningKeyRecord;
use aegis_core::Result;
use sqlx::PgPool;

use crate::error::DbResultExt;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    private_key_enc: Vec<u8>,
    created_at: DateTime<Utc>,
}

pub(super) async fn list(pool: &PgPool) -> Result<Vec<SigningKeyRecord>> {
    let rows: Vec<SigningKeyRow> =
        sqlx::query_as("SELECT * FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(pool)
            .await
            .db()?;
    rows.into_iter()
        .map(|r| {
            Ok(SigningKeyRecord {
                kid: r.kid,
                algorithm: r.algorithm,
                public_key: r.public_key,
                private_key_enc: r.private_key_enc,
                created_at: r.created_at,
            })
        })
        .collect()
}

pub(super) async fn insert(pool: &PgPool, key: &SigningKeyRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, public_key, private_key_enc, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(&key.private_key_enc)
    .bind(key.created_at)
    .execute(pool)
    .await
    .on_insert("kid", "signing key")?;
    Ok(())
}
