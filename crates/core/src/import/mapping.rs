//! Field mappings: which source column becomes which user field, and how the
//! password column is to be read. [`CompiledMapping`] binds a mapping to a source
//! header once and then turns each row into a [`NewUser`] or a row failure.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::hash;
use crate::error::Error;
use crate::identity::{Email, Username};
use crate::password::DigestAlg;
use crate::service::check_profile;
use crate::user::{NewUser, Role};

/// A user field a column can fill.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Required: the user's email.
    Email,
    /// The username (defaults to the email).
    Username,
    /// E.164 phone number.
    Phone,
    /// Email verified (`true`/`false`, `1`/`0`, `yes`/`no`; empty = false).
    Verified,
    /// Account disabled (same values; empty = false).
    Disabled,
    /// The password hash, read as [`Mapping::password`] says.
    Password,
    /// The per-row salt of a raw password hash.
    PasswordSalt,
    /// A profile key (`first_name`, `last_name`, or any key the profile rules allow).
    Profile(String),
}

impl Target {
    /// The name used in row messages and on the wire (`email`, `first_name`, …).
    pub fn name(&self) -> &str {
        match self {
            Self::Email => "email",
            Self::Username => "username",
            Self::Phone => "phone",
            Self::Verified => "verified",
            Self::Disabled => "disabled",
            Self::Password => "password",
            Self::PasswordSalt => "password_salt",
            Self::Profile(key) => key,
        }
    }
}

/// A password hash algorithm of an import (Pangea's `password_hash_params.algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum HashAlgorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Bcrypt,
    Pbkdf2,
    Argon2,
    Scrypt,
    FirebaseScrypt,
    /// Any complete stored form [`crate::password::describe`] recognises (the CLI's default).
    Auto,
}

impl HashAlgorithm {
    /// The wire name (`FIREBASE-SCRYPT`), as messages show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
            Self::Bcrypt => "BCRYPT",
            Self::Pbkdf2 => "PBKDF2",
            Self::Argon2 => "ARGON2",
            Self::Scrypt => "SCRYPT",
            Self::FirebaseScrypt => "FIREBASE-SCRYPT",
            Self::Auto => "AUTO",
        }
    }
}

/// Whether the salt goes before or after the password in a salted digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaltOrder {
    /// `H(salt ‖ password)`.
    Prefix,
    /// `H(password ‖ salt)`.
    Suffix,
}

/// How the password column is to be read (Pangea's `password_hash_params`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashParams {
    pub algorithm: HashAlgorithm,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// A salt shared by every row (a `password_salt` column wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt_order: Option<SaltOrder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_algorithm: Option<DigestAlg>,
    /// KiB (argon2) or Firebase `mem_cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u32>,
    /// scrypt N (a power of two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_factor: Option<u64>,
    /// Firebase salt separator (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt_separator: Option<String>,
    /// Firebase signer key (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_key: Option<String>,
}

impl HashParams {
    /// Parameters with only an algorithm.
    pub fn new(algorithm: HashAlgorithm) -> Self {
        Self {
            algorithm,
            iterations: None,
            salt: None,
            salt_order: None,
            key_length: None,
            digest_algorithm: None,
            memory: None,
            parallelism: None,
            block_size: None,
            cost_factor: None,
            salt_separator: None,
            signer_key: None,
        }
    }
}

/// One column → field assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// The source column's header name.
    pub column: String,
    pub target: Target,
}

/// A whole mapping, as stored with a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub fields: Vec<FieldMapping>,
    /// Required when a column maps to [`Target::Password`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<HashParams>,
}

/// Why a mapping cannot be used; `index` points into [`Mapping::fields`] where one
/// field is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub index: Option<usize>,
    pub kind: MappingErrorKind,
}

/// The ways a mapping can be wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingErrorKind {
    /// No column maps to `email`.
    NoEmail,
    /// A field is the target of two columns.
    Duplicate,
    /// A profile key the profile rules refuse.
    BadProfileKey,
    /// `password` without hash parameters.
    NoHashParams,
    /// Hash parameters out of their bounds (the reason is safe to show).
    BadHashParams(String),
    /// The column is not in the source's header.
    UnknownColumn,
}

/// A mapping bound to a source header, ready to turn rows into users.
#[derive(Debug, Clone)]
pub struct CompiledMapping {
    /// Fields every record must have (the header's length).
    columns: usize,
    /// Every mapped field's name and column, in mapping order.
    cells: Vec<(String, usize)>,
    email: usize,
    username: Option<usize>,
    phone: Option<usize>,
    verified: Option<usize>,
    disabled: Option<usize>,
    password: Option<usize>,
    salt: Option<usize>,
    profile: Vec<(String, usize)>,
    params: Option<HashParams>,
}

/// Names a profile key may not take: they are the built-in fields.
const RESERVED_KEYS: [&str; 7] = [
    "email",
    "username",
    "phone",
    "verified",
    "disabled",
    "password",
    "password_salt",
];

/// Longest email, in characters (spec §9.1).
const EMAIL_MAX_LEN: usize = 254;
/// Longest username aegis stores, in characters (the wire pattern allows 320).
const USERNAME_MAX_LEN: usize = 254;
/// Longest profile value, in characters (spec §3.7).
const PROFILE_VALUE_MAX_LEN: usize = 1024;

impl Mapping {
    /// Checks the rules that do not depend on a source: an `email` mapping, no field
    /// mapped twice, allowed profile keys, hash parameters present and in bounds.
    pub fn check(&self) -> Result<(), MappingError> {
        let fail = |index, kind| MappingError { index, kind };
        let mut seen = HashSet::new();
        for (i, field) in self.fields.iter().enumerate() {
            if let Target::Profile(key) = &field.target {
                if !profile_key_ok(key) {
                    return Err(fail(Some(i), MappingErrorKind::BadProfileKey));
                }
            }
            if !seen.insert(&field.target) {
                return Err(fail(Some(i), MappingErrorKind::Duplicate));
            }
        }
        if !seen.contains(&Target::Email) {
            return Err(fail(None, MappingErrorKind::NoEmail));
        }
        let at = self
            .fields
            .iter()
            .position(|f| f.target == Target::Password);
        let Some(params) = &self.password else {
            return match at {
                Some(i) => Err(fail(Some(i), MappingErrorKind::NoHashParams)),
                None => Ok(()),
            };
        };
        // Parameters without a password column are unused, but still must make sense.
        let bad = |reason| fail(at, MappingErrorKind::BadHashParams(reason));
        hash::check_params(params).map_err(bad)?;
        let digest = matches!(
            params.algorithm,
            HashAlgorithm::Md5
                | HashAlgorithm::Sha1
                | HashAlgorithm::Sha256
                | HashAlgorithm::Sha512
        );
        if digest
            && at.is_some()
            && seen.contains(&Target::PasswordSalt)
            && params.salt_order.is_none()
        {
            return Err(bad("salt_order is required with a salt".into()));
        }
        Ok(())
    }

    /// [`Self::check`], then binds every column to its position in `header`.
    pub fn compile(&self, header: &[String]) -> Result<CompiledMapping, MappingError> {
        self.check()?;
        let mut compiled = CompiledMapping {
            columns: header.len(),
            cells: Vec::with_capacity(self.fields.len()),
            email: 0,
            username: None,
            phone: None,
            verified: None,
            disabled: None,
            password: None,
            salt: None,
            profile: Vec::new(),
            params: self.password.clone(),
        };
        for (i, field) in self.fields.iter().enumerate() {
            let col = header
                .iter()
                .position(|h| *h == field.column)
                .ok_or(MappingError {
                    index: Some(i),
                    kind: MappingErrorKind::UnknownColumn,
                })?;
            compiled.cells.push((field.target.name().to_owned(), col));
            match &field.target {
                Target::Email => compiled.email = col,
                Target::Username => compiled.username = Some(col),
                Target::Phone => compiled.phone = Some(col),
                Target::Verified => compiled.verified = Some(col),
                Target::Disabled => compiled.disabled = Some(col),
                Target::Password => compiled.password = Some(col),
                Target::PasswordSalt => compiled.salt = Some(col),
                Target::Profile(key) => compiled.profile.push((key.clone(), col)),
            }
        }
        Ok(compiled)
    }
}

impl CompiledMapping {
    /// The user a data row describes, or its failure message
    /// (`row N: field: reason`, never echoing a password or salt value).
    ///
    /// No message carries any cell value: they are shown to whoever reads the job.
    pub fn user(
        &self,
        row: u64,
        record: &[&str],
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<NewUser, String> {
        let fail = |field: &str, reason: &str| format!("row {row}: {field}: {reason}");
        if record.len() != self.columns {
            let reason = format!("expected {} fields, found {}", self.columns, record.len());
            return Err(fail("row", &reason));
        }
        for (field, col) in &self.cells {
            if record[*col].chars().any(|c| c.is_control() && c != '\t') {
                return Err(fail(field, "contains a control character"));
            }
        }
        let cell = |col: Option<usize>| col.map(|c| record[c]).filter(|v| !v.is_empty());

        let email = record[self.email];
        if email.is_empty() {
            return Err(fail("email", "is required"));
        }
        if email.chars().count() > EMAIL_MAX_LEN {
            return Err(fail("email", "is longer than 254 characters"));
        }
        if !email_pattern(email) {
            return Err(fail("email", "does not match pattern"));
        }
        let email =
            Email::parse(email).map_err(|_| fail("email", "is not a valid email address"))?;

        let username = match cell(self.username) {
            Some(name) => {
                if !username_pattern(name) {
                    return Err(fail("username", "does not match pattern"));
                }
                if name.chars().count() > USERNAME_MAX_LEN {
                    return Err(fail("username", "is longer than 254 characters"));
                }
                Username::parse(name)
            }
            None => Username::parse(email.as_str()),
        }
        .map_err(|_| fail("username", "is not a valid username"))?;

        let phone = cell(self.phone);
        if phone.is_some_and(|p| !phone_pattern(p)) {
            return Err(fail("phone", "does not match pattern"));
        }
        let flag = |col: Option<usize>, field: &str| {
            col.map_or(Some(false), |c| boolean(record[c]))
                .ok_or_else(|| fail(field, "not a boolean"))
        };
        let verified = flag(self.verified, "verified")?;
        let disabled = flag(self.disabled, "disabled")?;

        let mut profile = BTreeMap::new();
        for (key, col) in &self.profile {
            let value = record[*col];
            if value.is_empty() {
                continue;
            }
            if value.chars().count() > PROFILE_VALUE_MAX_LEN {
                return Err(fail(key, "is longer than 1024 characters"));
            }
            profile.insert(key.clone(), value.to_owned());
        }
        if let Err(e) = check_profile(&profile) {
            // The profile rules' reasons name keys and limits, never values.
            let reason = match e {
                Error::InvalidField { reason, .. } => reason,
                _ => "breaks the profile rules".into(),
            };
            return Err(fail("profile", &reason));
        }

        let password_hash = match cell(self.password) {
            Some(value) => {
                let params = self
                    .params
                    .as_ref()
                    .ok_or_else(|| fail("password", "no hash parameters"))?;
                let stored = hash::stored_form(params, value, cell(self.salt))
                    .map_err(|reason| fail("password", &reason))?;
                Some(stored)
            }
            None => None,
        };

        Ok(NewUser {
            id,
            username,
            email: Some(email),
            password_hash,
            profile,
            role: Role::User,
            active: !disabled,
            verified,
            password_expired: false,
            phone: phone.map(str::to_owned),
            created_at: at,
        })
    }
}

/// `^[A-Za-z0-9_.-]{1,64}$` (spec §3.7), and not the name of a built-in field.
fn profile_key_ok(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !RESERVED_KEYS.contains(&key)
}

/// Pangea's email pattern, `^[0-9a-zA-Z+._-]+@[0-9a-zA-Z.-]+$`.
fn email_pattern(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+._-".contains(&b))
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
}

/// Pangea's username pattern, `^[0-9a-zA-Z+._@-]{2,320}$`.
fn username_pattern(s: &str) -> bool {
    (2..=320).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+._@-".contains(&b))
}

/// E.164 as the pangea dialect checks it: `+` and 2 to 15 digits.
fn phone_pattern(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `true`/`false`, `1`/`0`, `yes`/`no` in any case; empty is false.
fn boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(column: &str, target: Target) -> FieldMapping {
        FieldMapping {
            column: column.into(),
            target,
        }
    }

    fn profile(key: &str) -> Target {
        Target::Profile(key.into())
    }

    fn kind_at(m: &Mapping) -> (Option<usize>, MappingErrorKind) {
        let e = m.check().unwrap_err();
        (e.index, e.kind)
    }

    /// A bcrypt hash of "correct horse battery staple" (pyca bcrypt, from
    /// tests/vectors/hashes.json).
    const BCRYPT: &str = "$2b$04$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6";

    const HEADER: [&str; 9] = [
        "mail", "login", "tel", "ok", "off", "pw", "first", "last", "salt",
    ];

    fn header() -> Vec<String> {
        HEADER.iter().map(|h| h.to_string()).collect()
    }

    fn full(params: HashParams) -> Mapping {
        Mapping {
            fields: vec![
                field("mail", Target::Email),
                field("login", Target::Username),
                field("tel", Target::Phone),
                field("ok", Target::Verified),
                field("off", Target::Disabled),
                field("pw", Target::Password),
                field("first", profile("first_name")),
                field("last", profile("last_name")),
                field("salt", Target::PasswordSalt),
            ],
            password: Some(params),
        }
    }

    fn compiled() -> CompiledMapping {
        full(HashParams::new(HashAlgorithm::Bcrypt))
            .compile(&header())
            .unwrap()
    }

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn user(m: &CompiledMapping, row: u64, record: &[&str]) -> Result<NewUser, String> {
        m.user(row, record, uuid::Uuid::nil(), at())
    }

    /// A valid record of [`HEADER`] with `col` set to `value`.
    fn record_with(col: &str, value: &'static str) -> Vec<&'static str> {
        let mut r = vec![
            "Ann.Lee@Example.org",
            "",
            "+4915112345678",
            "yes",
            "",
            BCRYPT,
            "Ann",
            "",
            "",
        ];
        let i = HEADER.iter().position(|h| *h == col).unwrap();
        r[i] = value;
        r
    }

    #[test]
    fn check_accepts_a_good_mapping() {
        assert_eq!(full(HashParams::new(HashAlgorithm::Auto)).check(), Ok(()));
        let minimal = Mapping {
            fields: vec![field("e", Target::Email)],
            password: None,
        };
        assert_eq!(minimal.check(), Ok(()));
    }

    #[test]
    fn check_errors_point_at_their_field() {
        use MappingErrorKind as K;
        let no_email = Mapping {
            fields: vec![field("u", Target::Username)],
            password: None,
        };
        assert_eq!(kind_at(&no_email), (None, K::NoEmail));

        let twice = Mapping {
            fields: vec![
                field("a", Target::Email),
                field("b", profile("first_name")),
                field("c", profile("first_name")),
            ],
            password: None,
        };
        assert_eq!(kind_at(&twice), (Some(2), K::Duplicate));
        let email_twice = Mapping {
            fields: vec![field("a", Target::Email), field("b", Target::Email)],
            password: None,
        };
        assert_eq!(kind_at(&email_twice), (Some(1), K::Duplicate));

        for key in [
            "",
            "has space",
            "ünïcode",
            "email",
            "password_salt",
            &"k".repeat(65),
        ] {
            let m = Mapping {
                fields: vec![field("a", Target::Email), field("b", profile(key))],
                password: None,
            };
            assert_eq!(kind_at(&m), (Some(1), K::BadProfileKey), "{key:?}");
        }
        let ok_key = Mapping {
            fields: vec![
                field("a", Target::Email),
                field("b", profile("dept.code-2_x")),
            ],
            password: None,
        };
        assert_eq!(ok_key.check(), Ok(()));

        let no_params = Mapping {
            fields: vec![field("a", Target::Email), field("b", Target::Password)],
            password: None,
        };
        assert_eq!(kind_at(&no_params), (Some(1), K::NoHashParams));

        let mut params = HashParams::new(HashAlgorithm::Pbkdf2);
        params.iterations = Some(2_000_000);
        let bad_params = Mapping {
            fields: vec![
                field("a", Target::Email),
                field("s", Target::PasswordSalt),
                field("b", Target::Password),
            ],
            password: Some(params),
        };
        assert_eq!(
            kind_at(&bad_params),
            (
                Some(2),
                K::BadHashParams("iterations must be between 1 and 1500000".into())
            )
        );

        // A salt column with a plain digest needs the order as well.
        let mut bad = bad_params.clone();
        bad.password = Some(HashParams::new(HashAlgorithm::Md5));
        assert_eq!(
            kind_at(&bad),
            (
                Some(2),
                K::BadHashParams("salt_order is required with a salt".into())
            )
        );
        if let Some(p) = bad.password.as_mut() {
            p.salt_order = Some(SaltOrder::Suffix);
        }
        assert_eq!(bad.check(), Ok(()));
    }

    #[test]
    fn compile_finds_every_column() {
        let m = full(HashParams::new(HashAlgorithm::Bcrypt));
        assert!(m.compile(&header()).is_ok());
        let mut short = header();
        short.retain(|h| h != "first");
        assert_eq!(
            m.compile(&short).unwrap_err(),
            MappingError {
                index: Some(6),
                kind: MappingErrorKind::UnknownColumn
            }
        );
        // Exact match: no case folding or trimming.
        let mut renamed = header();
        renamed[0] = "Mail".into();
        assert_eq!(m.compile(&renamed).unwrap_err().index, Some(0));
        // Rules that need no header come first.
        let no_email = Mapping {
            fields: vec![field("nope", Target::Username)],
            password: None,
        };
        assert_eq!(
            no_email.compile(&header()).unwrap_err().kind,
            MappingErrorKind::NoEmail
        );
    }

    #[test]
    fn a_good_row_becomes_a_user() {
        let m = compiled();
        let id = uuid::Uuid::now_v7();
        let u = m.user(1, &record_with("last", "Lee"), id, at()).unwrap();
        assert_eq!(u.id, id);
        assert_eq!(u.created_at, at());
        assert_eq!(
            u.email.as_ref().map(Email::as_str),
            Some("ann.lee@example.org")
        );
        // An empty username is the email.
        assert_eq!(u.username.as_str(), "ann.lee@example.org");
        assert_eq!(u.phone.as_deref(), Some("+4915112345678"));
        assert!(u.verified && u.active && !u.password_expired);
        assert_eq!(u.role, Role::User);
        assert_eq!(u.password_hash.as_deref(), Some(BCRYPT));
        let want: BTreeMap<String, String> = [("first_name", "Ann"), ("last_name", "Lee")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(u.profile, want);

        let u = user(&m, 2, &record_with("login", "Ann_L")).unwrap();
        assert_eq!(u.username.as_str(), "ann_l");
        // Empty cells: no profile key, no phone, no password, false flags.
        let blank = ["a@b.example", "", "", "", "", "", "", "", ""];
        let u = user(&m, 3, &blank).unwrap();
        assert!(u.profile.is_empty() && u.phone.is_none() && u.password_hash.is_none());
        assert!(!u.verified && u.active);
        // A tab is not a control character here.
        let u = user(&m, 4, &record_with("first", "Ann\tMarie")).unwrap();
        assert_eq!(u.profile["first_name"], "Ann\tMarie");
    }

    #[test]
    fn booleans() {
        let m = compiled();
        for (v, want) in [
            ("TRUE", true),
            ("1", true),
            ("Yes", true),
            ("false", false),
            ("0", false),
            ("NO", false),
            ("", false),
        ] {
            assert_eq!(user(&m, 1, &record_with("ok", v)).unwrap().verified, want);
            assert_eq!(user(&m, 1, &record_with("off", v)).unwrap().active, !want);
        }
        assert_eq!(
            user(&m, 5, &record_with("ok", "maybe")).unwrap_err(),
            "row 5: verified: not a boolean"
        );
        assert_eq!(
            user(&m, 6, &record_with("off", "y")).unwrap_err(),
            "row 6: disabled: not a boolean"
        );
    }

    #[test]
    fn bad_rows_say_where_and_why() {
        let m = compiled();
        let long_email: &'static str = format!("{}@example.org", "a".repeat(243)).leak();
        let long_value: &'static str = "x".repeat(1025).leak();
        let cases: Vec<(Vec<&'static str>, &str)> = vec![
            (vec!["a@b.c"; 3], "row 3: row: expected 9 fields, found 3"),
            (vec!["a@b.c"; 10], "row 3: row: expected 9 fields, found 10"),
            (
                record_with("mail", "ann@exa\0mple.org"),
                "row 3: email: contains a control character",
            ),
            (
                record_with("first", "An\nn"),
                "row 3: first_name: contains a control character",
            ),
            (
                record_with("pw", "$2b$\u{7f}"),
                "row 3: password: contains a control character",
            ),
            (
                record_with("salt", "\u{1b}[0m"),
                "row 3: password_salt: contains a control character",
            ),
            (record_with("mail", ""), "row 3: email: is required"),
            (
                record_with("mail", "ann lee@example.org"),
                "row 3: email: does not match pattern",
            ),
            (
                record_with("mail", "ann@example.org@x"),
                "row 3: email: does not match pattern",
            ),
            (
                record_with("mail", "ännä@example.org"),
                "row 3: email: does not match pattern",
            ),
            (
                record_with("mail", "ann.example.org"),
                "row 3: email: does not match pattern",
            ),
            (
                record_with("mail", long_email),
                "row 3: email: is longer than 254 characters",
            ),
            (
                record_with("mail", "ann..lee@example.org"),
                "row 3: email: is not a valid email address",
            ),
            (
                record_with("login", "a"),
                "row 3: username: does not match pattern",
            ),
            (
                record_with("login", "ann lee"),
                "row 3: username: does not match pattern",
            ),
            (
                record_with("tel", "015112345678"),
                "row 3: phone: does not match pattern",
            ),
            (
                record_with("tel", "+1"),
                "row 3: phone: does not match pattern",
            ),
            (
                record_with("tel", "+1234567890123456"),
                "row 3: phone: does not match pattern",
            ),
            (
                record_with("first", long_value),
                "row 3: first_name: is longer than 1024 characters",
            ),
            (
                record_with("pw", "hunter2-plaintext"),
                "row 3: password: not a valid BCRYPT hash",
            ),
        ];
        for (record, want) in cases {
            assert_eq!(user(&m, 3, &record).unwrap_err(), want);
        }
        // The limit is the spec's 254 characters (in labels the address rules allow).
        let domain = format!(
            "{}{}.org",
            format!("{}.", "b".repeat(49)).repeat(4),
            "b".repeat(46)
        );
        let just: &'static str = format!("ann@{domain}").leak();
        assert_eq!(just.len(), 254);
        assert!(user(&m, 3, &record_with("mail", just)).is_ok());
        let over: &'static str = format!("anna@{domain}").leak();
        assert_eq!(
            user(&m, 3, &record_with("mail", over)).unwrap_err(),
            "row 3: email: is longer than 254 characters"
        );
    }

    #[test]
    fn the_profile_rules_apply_to_the_row() {
        let mut fields = vec![field("c0", Target::Email)];
        let mut header = vec!["c0".to_string()];
        for i in 1..=65 {
            fields.push(field(&format!("c{i}"), profile(&format!("k{i}"))));
            header.push(format!("c{i}"));
        }
        let m = Mapping {
            fields,
            password: None,
        }
        .compile(&header)
        .unwrap();
        let mut record = vec!["v"; 66];
        record[0] = "a@b.example";
        let e = user(&m, 9, &record).unwrap_err();
        assert!(e.starts_with("row 9: profile: "), "{e}");
        // An empty cell is an absent key, so 64 values pass.
        record[65] = "";
        assert_eq!(user(&m, 9, &record).unwrap().profile.len(), 64);
    }

    #[test]
    fn password_cells_use_the_row_salt() {
        // hashlib.sha1(b"sha1-salt" + b"correct horse battery staple").hexdigest()
        let hex = "42f0f634747d621c829054cbd74a56d9cdab04c1";
        let mut params = HashParams::new(HashAlgorithm::Sha1);
        params.salt_order = Some(SaltOrder::Prefix);
        let m = full(params).compile(&header()).unwrap();
        let mut record = record_with("pw", hex);
        record[8] = "sha1-salt";
        let stored = user(&m, 1, &record).unwrap().password_hash.unwrap();
        assert_eq!(
            stored,
            "$aegis-digest$alg=sha1,iter=1,order=salt-first$c2hhMS1zYWx0$QvD2NHR9YhyCkFTL10pW2c2rBME"
        );
        // An empty password cell: no password, whatever the salt.
        record[5] = "";
        assert!(user(&m, 1, &record).unwrap().password_hash.is_none());
    }

    #[test]
    fn messages_never_carry_a_password_or_salt() {
        let secret = "Pa55-SECRET-c311";
        let mut params = HashParams::new(HashAlgorithm::Md5);
        params.salt_order = Some(SaltOrder::Suffix);
        let digest = full(params).compile(&header()).unwrap();
        let mut argon = HashParams::new(HashAlgorithm::Argon2);
        (argon.memory, argon.iterations) = (Some(256), Some(1));
        let argon = full(argon).compile(&header()).unwrap();
        let bcrypt = compiled();
        let leaked: &'static str = format!("{secret}\u{0}").leak();
        let long: &'static str = format!("{secret}{}", "0".repeat(40)).leak();
        let cells: [(&str, &'static str); 5] = [
            ("pw", secret),
            ("pw", leaked),
            ("pw", long),
            ("salt", leaked),
            ("mail", secret),
        ];
        for m in [&digest, &argon, &bcrypt] {
            for (col, value) in cells {
                let mut record = record_with(col, value);
                if col == "salt" {
                    record[5] = "ab";
                }
                let e = user(m, 1, &record).unwrap_err();
                assert!(!e.contains(secret), "{e}");
                assert!(e.starts_with("row 1: "), "{e}");
            }
        }
        // A salt that is present but unusable names the salt, never its value.
        let mut record = record_with("pw", "QUJDREVGR0hJSktMTU5PUA");
        record[8] = "tiny";
        let e = user(&argon, 1, &record).unwrap_err();
        assert_eq!(
            e,
            "row 1: password: the salt must be 8 to 48 bytes for ARGON2"
        );
    }
}
