//! Signing keys.

use aegis_core::store::SigningKeyRecord;
use aegis_core::Result;
use sqlx::SqlitePool;

use super::{micros, time};
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    private_key_enc: Vec<u8>,
    created_at: i64,
}

pub(super) async fn list(pool: &SqlitePool) -> Result<Vec<SigningKeyRecord>> {
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
                created_at: time(r.created_at)?,
            })
        })
        .collect()
}

pub(super) async fn insert(pool: &SqlitePool, key: &SigningKeyRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, public_key, private_key_enc, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(&key.private_key_enc)
    .bind(micros(key.created_at))
    .execute(pool)
    .await
    .on_insert("kid", "signing key")?;
    Ok(())
}
