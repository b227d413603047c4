//! Second factors, without storage or transport: TOTP (RFC 6238) codes with replay
//! protection, and single-use recovery codes.
//!
//! - A TOTP secret is 160 random bits (RFC 4226's recommendation), shown to the
//!   user once as base32 and an `otpauth://` URI, and kept by the store sealed
//!   under the key-encryption key ([`crate::keys::Kek`]).
//! - A code is accepted in the current 30-second step or one step either side,
//!   and only in a step later than the last one accepted for that secret: a code
//!   seen once (even an earlier one of a later step) can never be replayed.
//! - Recovery codes carry 50 random bits each, are shown once, and are stored only
//!   as SHA-256 hashes; each one can be used once.

use chrono::{DateTime, Utc};
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::keys::Kek;
use crate::secret::{ct_eq, hash_token};

/// Seconds per TOTP step.
pub const TOTP_STEP: u64 = 30;
/// Digits per TOTP code.
pub const TOTP_DIGITS: usize = 6;
/// Steps accepted either side of the current one (clock drift, typing time).
pub const TOTP_SKEW: u64 = 1;
/// Secret bytes (160 bits).
pub const TOTP_SECRET_LEN: usize = 20;
/// Recovery codes per set.
pub const RECOVERY_CODES: usize = 10;

/// Kinds of second factor kept as authenticators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    Totp,
    Passkey,
}

impl FactorKind {
    /// The stored (and Pangea `type`) name.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Passkey => "passkey",
        }
    }

    /// Parses [`FactorKind::as_str`]'s form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(FactorKind::Totp),
            "passkey" => Some(FactorKind::Passkey),
            _ => None,
        }
    }
}

/// A stored second factor of one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: FactorKind,
    /// The user's label (a passkey's nickname; may be empty).
    pub name: String,
    /// TOTP: the secret sealed under the KEK ([`TotpSecret::seal`]).
    pub secret: Option<Vec<u8>>,
    /// Passkey: the serialised credential.
    pub credential: Option<String>,
    /// False while enrolling (a TOTP secret awaiting its first code); only
    /// enabled factors count at login.
    pub enabled: bool,
    /// TOTP: the last step accepted (replay protection).
    pub last_step: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A TOTP shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

impl TotpSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; TOTP_SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A stored secret's bytes (after unsealing).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() < 16 {
            return Err(Error::internal("stored TOTP secret is too short"));
        }
        Ok(Self(bytes))
    }

    /// A secret from its base32 form (as [`TotpSecret::base32`] shows it).
    pub fn from_base32(text: &str) -> Result<Self> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = BASE32_NOPAD
            .decode(text.trim_end_matches('=').to_ascii_uppercase().as_bytes())
            .map_err(|_| Error::invalid("secret", "is not base32"))?;
        Self::from_bytes(bytes).map_err(|_| Error::invalid("secret", "is too short"))
    }

    /// The raw bytes, for sealing.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret encrypted under the key-encryption key, bound to its
    /// authenticator: the only form the store keeps.
    pub fn seal(&self, kek: &Kek, authenticator: Uuid) -> Result<Vec<u8>> {
        kek.seal(&format!("totp:{authenticator}"), &self.0)
    }

    /// A secret [`seal`](Self::seal)ed for `authenticator`.
    pub fn unseal(kek: &Kek, authenticator: Uuid, sealed: &[u8]) -> Result<Self> {
        Self::from_bytes(kek.open(&format!("totp:{authenticator}"), sealed)?)
    }

    /// Base32 without padding: what authenticator apps take when typed in.
    pub fn base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<TOTP> {
        // totp-rs refuses a ':' in either name (the label's separator).
        let clean = |s: &str| s.replace(':', " ");
        TOTP::new(
            Algorithm::SHA1,
            TOTP_DIGITS,
            0,
            TOTP_STEP,
            self.0.clone(),
            Some(clean(issuer)),
            clean(account),
        )
        .map_err(|e| Error::internal(format!("TOTP parameters: {e}")))
    }

    /// The `otpauth://totp/...` URI for a QR code.
    pub fn uri(&self, issuer: &str, account: &str) -> Result<String> {
        Ok(self.totp(issuer, account)?.get_url())
    }

    /// The code of the step that holds `unix` seconds.
    pub fn code_at(&self, unix: u64) -> Result<String> {
        Ok(self.totp("aegis", "user")?.generate(unix))
    }

    /// The step a code matches: the current step at `now` or one either side,
    /// later than `last_step` (the last step accepted for this secret). `None`
    /// for a wrong, malformed or replayed code. Every candidate is compared, in
    /// constant time, whatever matches first.
    pub fn verify(
        &self,
        code: &str,
        now: DateTime<Utc>,
        last_step: Option<u64>,
    ) -> Result<Option<u64>> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let now = u64::try_from(now.timestamp()).unwrap_or(0);
        let current = now / TOTP_STEP;
        let mut matched = None;
        for step in current.saturating_sub(TOTP_SKEW)..=current + TOTP_SKEW {
            let expected = self.code_at(step * TOTP_STEP)?;
            let fresh = last_step.is_none_or(|last| step > last);
            if ct_eq(expected.as_bytes(), code.as_bytes()) && fresh && matched.is_none() {
                matched = Some(step);
            }
        }
        Ok(matched)
    }
}

/// A fresh set of recovery codes: the codes to show once, and their hashes to
/// store.
pub fn recovery_codes() -> (Vec<String>, Vec<[u8; 32]>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 7];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            // 56 random bits → 12 base32 letters, 10 of them kept (50 bits).
            let text = data_encoding::BASE32_NOPAD
                .encode(&bytes)
                .to_ascii_lowercase();
            let code = format!("{}-{}", &text[..5], &text[5..10]);
            let hash = recovery_hash(&code).expect("a generated code is well-formed");
            (code, hash)
        })
        .unzip()
}

/// The stored form of a recovery code as typed (case, spaces and dashes do not
/// matter); `None` when it cannot be a recovery code.
pub fn recovery_hash(typed: &str) -> Option<[u8; 32]> {
    let norm: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ok = norm.len() == 10 && norm.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'));
    ok.then(|| hash_token(&norm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rfc6238() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B (SHA-1), 8-digit codes; six digits are their tail.
        let secret = rfc6238();
        for (t, code8) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(secret.code_at(t).unwrap(), code8[2..], "T={t}");
        }
    }

    #[test]
    fn codes_are_accepted_one_step_either_side_and_once() {
        let secret = rfc6238();
        let now = Utc.timestamp_opt(1_111_111_111, 0).unwrap();
        let step = 1_111_111_111 / TOTP_STEP;
        let at = |s: u64| secret.code_at(s * TOTP_STEP).unwrap();
        assert_eq!(secret.verify(&at(step), now, None).unwrap(), Some(step));
        assert_eq!(
            secret.verify(&at(step - 1), now, None).unwrap(),
            Some(step - 1)
        );
        assert_eq!(
            secret.verify(&at(step + 1), now, None).unwrap(),
            Some(step + 1)
        );
        assert_eq!(secret.verify(&at(step - 2), now, None).unwrap(), None);
        assert_eq!(secret.verify(&at(step + 2), now, None).unwrap(), None);
        // Replay: the step already used, or an earlier one, is refused.
        assert_eq!(secret.verify(&at(step), now, Some(step)).unwrap(), None);
        assert_eq!(secret.verify(&at(step - 1), now, Some(step)).unwrap(), None);
        assert_eq!(
            secret.verify(&at(step + 1), now, Some(step)).unwrap(),
            Some(step + 1)
        );
        // Spaces are ignored; anything else malformed is simply wrong.
        let spaced = format!("{} {}", &at(step)[..3], &at(step)[3..]);
        assert_eq!(secret.verify(&spaced, now, None).unwrap(), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(secret.verify(bad, now, None).unwrap(), None, "{bad}");
        }
    }

    #[test]
    fn secrets_and_uris() {
        let a = TotpSecret::generate();
        assert_ne!(a, TotpSecret::generate());
        assert_eq!(a.as_bytes().len(), TOTP_SECRET_LEN);
        assert_eq!(a.base32().len(), 32);
        let uri = a.uri("aegis", "ann:x@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/aegis:ann%20x%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={}", a.base32())), "{uri}");
        assert!(format!("{a:?}").find(&a.base32()).is_none());
        assert!(TotpSecret::from_bytes(vec![0; 8]).is_err());
        assert_eq!(
            TotpSecret::from_base32(&a.base32().to_lowercase()).unwrap(),
            a
        );
        assert!(TotpSecret::from_base32("not base32!").is_err());
    }

    #[test]
    fn secrets_are_sealed_to_their_authenticator() {
        let (kek, id) = (Kek::generate(), Uuid::now_v7());
        let secret = TotpSecret::generate();
        let sealed = secret.seal(&kek, id).unwrap();
        assert!(sealed
            .windows(8)
            .all(|w| !secret.as_bytes().windows(8).any(|s| s == w)));
        assert_eq!(TotpSecret::unseal(&kek, id, &sealed).unwrap(), secret);
        assert!(TotpSecret::unseal(&kek, Uuid::now_v7(), &sealed).is_err());
        assert!(TotpSecret::unseal(&Kek::generate(), id, &sealed).is_err());
        assert!(TotpSecret::unseal(&kek, id, &sealed[..10]).is_err());
    }

    #[test]
    fn recovery_codes_are_random_and_hashed() {
        let (codes, hashes) = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(recovery_hash(code), Some(*hash));
            let typed = format!(" {} ", code.replace('-', " ").to_uppercase());
            assert_eq!(recovery_hash(&typed), Some(*hash));
        }
        for bad in [
            "",
            "abcde-fghi",
            "abcde-fghij1",
            "abcde-fgh1j",
            "ábcde-fghij",
        ] {
            assert_eq!(recovery_hash(bad), None, "{bad}");
        }
    }
}
