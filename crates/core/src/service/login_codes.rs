//! One-time login codes: the hosted login page hands one to the application
//! (Pangea `client/userinfo`, spec pangea-authn §5.1), which exchanges it once,
//! within two minutes, for fresh tokens of the session the login opened.

use chrono::Duration;

use super::auth::{Login, TokenPair};
use super::Aegis;
use crate::error::{Error, Result};
use crate::secret::hash_token;
use crate::session::LoginCode;

/// What every code starts with (Pangea's `pmc_` id form).
const PREFIX: &str = "pmc_";
/// Random characters after the prefix: 160 bits of base32.
const CODE_CHARS: usize = 32;
/// How long a code may wait for its exchange.
const CODE_TTL_S: i64 = 120;

/// The one answer to every failed exchange: which check failed is not told.
fn invalid() -> Error {
    Error::NotFound("code")
}

/// A fresh code: `pmc_` + 32 lowercase base32 characters from the OS RNG.
fn new_code() -> String {
    crate::secret::prefixed_token(PREFIX)
}

/// True for text of the form [`new_code`] makes; anything else is not looked up.
fn well_formed(code: &str) -> bool {
    code.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == CODE_CHARS
            && rest
                .bytes()
                .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
    })
}

impl Aegis {
    /// Issues a single-use code for the session a login just opened, valid for
    /// two minutes. Only its hash is stored.
    pub async fn issue_login_code(&self, login: &Login) -> Result<String> {
        let now = self.clock.now();
        let code = new_code();
        let record = LoginCode {
            hash: hash_token(&code),
            session_id: login.session_id,
            user_id: login.user.id,
            created_at: now,
            expires_at: now + Duration::seconds(CODE_TTL_S),
            used_at: None,
        };
        self.store.insert_login_code(&record).await?;
        Ok(code)
    }

    /// Exchanges a code (once) for a new access token and a new refresh token of
    /// its session. An unknown, used, expired or malformed code, a session that
    /// ended and an inactive or deleted user all fail alike, with
    /// `NotFound("code")`.
    pub async fn exchange_login_code(&self, code: &str) -> Result<Login> {
        if !well_formed(code) {
            return Err(invalid());
        }
        let now = self.clock.now();
        let record = self
            .store
            .use_login_code(&hash_token(code), now)
            .await?
            .ok_or_else(invalid)?;
        let session = self
            .store
            .find_session(record.session_id)
            .await?
            .filter(|s| s.is_live(now) && s.user_id == record.user_id)
            .ok_or_else(invalid)?;
        // A code hands out tokens: never to a user who may not have a session.
        let user = self
            .user_state(session.user_id)
            .await?
            .filter(|u| u.active && !u.password_expired)
            .ok_or_else(invalid)?;
        let (refresh_token, refresh) = self.new_refresh_token(&session, now);
        match self.store.insert_refresh_token(&refresh).await {
            Err(Error::NotFound(_)) => return Err(invalid()), // session deleted meanwhile
            other => other?,
        }
        let (access_token, access_expires_at) = self.issue_access(&user, session.id, now)?;
        Ok(Login {
            user,
            session_id: session.id,
            tokens: TokenPair {
                access_token,
                access_expires_at,
                refresh_token,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::BASE32_NOPAD;

    #[test]
    fn codes_are_pmc_and_160_bits() {
        let code = new_code();
        assert_eq!(code.len(), PREFIX.len() + CODE_CHARS);
        assert!(well_formed(&code), "{code}");
        assert_ne!(code, new_code());
        let bytes = BASE32_NOPAD
            .decode(code[PREFIX.len()..].to_ascii_uppercase().as_bytes())
            .unwrap();
        assert_eq!(bytes.len(), 20);
    }

    #[test]
    fn only_our_form_is_looked_up() {
        let good = "pmc_d6chl6qulpn3it34oerwm3cqwsjd6dxw";
        assert!(well_formed(good));
        for bad in [
            "",
            "pmc_",
            "pmc_d6chl6qulpn3it34oerwm3cqwsjd6dx",
            "pmc_d6chl6qulpn3it34oerwm3cqwsjd6dxwa",
            "pmc_D6CHL6QULPN3IT34OERWM3CQWSJD6DXW",
            "pmc_d6chl6qulpn3it34oerwm3cqwsjd6dx1",
            "pmt_d6chl6qulpn3it34oerwm3cqwsjd6dxw",
            "pmc_d6chl6qulpn3it34oerwm3cqwsjd6dxé",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
