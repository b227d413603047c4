//! `aegis client …`: OpenID Connect clients (relying parties), through the core
//! as the operator.

use std::path::PathBuf;
use std::sync::Arc;

use aegis_core::keys::SigningAlg;
use aegis_core::oidc::{Client, Grant};
use aegis_core::service::oidc::NewClient;
use aegis_core::{Actor, SystemClock};
use aegis_server::Config;
use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints `{"client_id": …, "client_secret": …}` (no
    /// secret for a public client) and nothing else on stdout.
    Create {
        #[arg(long)]
        name: String,
        /// An exact redirect URI (repeat for more).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// An exact post-logout redirect URI (repeat for more).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (native or browser app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Never ask users for consent.
        #[arg(long)]
        first_party: bool,
        /// A grant the client may use (repeat; default authorization_code and refresh_token).
        #[arg(long = "grant", value_parser = parse_grant)]
        grants: Vec<Grant>,
        /// How ID tokens are signed.
        #[arg(long, value_parser = parse_alg, default_value = "RS256")]
        id_token_alg: SigningAlg,
        /// A JWK set file of the client's public keys (for private_key_jwt).
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// A scope client_credentials may grant it (repeat for more).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List the clients as JSON lines (never a secret).
    List,
    /// Delete a client, its consents and codes, and end its sessions.
    Delete { id: String },
    /// Give a confidential client a new secret (the old one stops working);
    /// prints `{"client_id": …, "client_secret": …}`.
    RotateSecret { id: String },
}

fn parse_grant(s: &str) -> Result<Grant, String> {
    Grant::parse(s)
        .ok_or_else(|| "must be authorization_code, refresh_token or client_credentials".into())
}

fn parse_alg(s: &str) -> Result<SigningAlg, String> {
    SigningAlg::parse(s).ok_or_else(|| "must be RS256, EdDSA or ES256".into())
}

fn describe(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.id,
        "name": c.name,
        "public": c.public,
        "first_party": c.first_party,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grants": c.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "id_token_alg": c.id_token_alg.as_str(),
        "private_key_jwt": c.jwks.is_some(),
        "scopes": c.scopes,
        "created_at": c.created_at,
    })
}

pub async fn run(config: Config, command: ClientCommand) -> anyhow::Result<()> {
    let state = aegis_server::bootstrap::state(config, Arc::new(SystemClock)).await?;
    let aegis = &state.aegis;
    let actor = Actor::System;
    match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party,
            grants,
            id_token_alg,
            jwks,
            scopes,
        } => {
            let jwks = match jwks {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                first_party,
                grants,
                id_token_alg,
                jwks,
                scopes,
            };
            let made = aegis
                .create_client(&actor, new)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut out = json!({ "client_id": made.client.id });
            if let Some(secret) = made.secret {
                out["client_secret"] = json!(secret);
            }
            println!("{out}");
            eprintln!("registered client {:?}", made.client.name);
        }
        ClientCommand::List => {
            let clients = aegis
                .list_clients(&actor)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for c in &clients {
                println!("{}", describe(c));
            }
        }
        ClientCommand::Delete { id } => {
            aegis
                .delete_client(&actor, &id)
                .await
                .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
            eprintln!("deleted client {id}");
        }
        ClientCommand::RotateSecret { id } => {
            let secret = aegis
                .rotate_client_secret(&actor, &id)
                .await
                .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
            println!("{}", json!({ "client_id": id, "client_secret": secret }));
        }
    }
    Ok(())
}
