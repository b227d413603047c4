//! The outcome of each row of an import batch, decided before anything is written
//! and shared by both backends: which users to create, which rows to skip because
//! an identifier exists (in the store or earlier in the batch), and the report of
//! every row.

use std::collections::HashMap;

use aegis_core::identity::Email;
use aegis_core::import::{Batch, Counters, RowInput, RowStatus};
use aegis_core::user::NewUser;
use aegis_core::Result;
use uuid::Uuid;

use crate::convert::unsigned;

/// The recorded outcome of one row, before it is written.
pub(crate) struct RowOutcome<'a> {
    pub row: u64,
    pub status: RowStatus,
    pub user_id: Option<Uuid>,
    pub message: std::borrow::Cow<'a, str>,
}

/// What committing a batch writes.
pub(crate) struct Plan<'a> {
    /// The users to insert, in row order.
    pub users: Vec<&'a NewUser>,
    /// Their identifiers with the user holding each.
    pub identifiers: Vec<(&'a str, Uuid)>,
    /// One outcome per row of the batch, in batch order.
    pub rows: Vec<RowOutcome<'a>>,
    /// The outcomes counted.
    pub counts: Counters,
}

/// Decides every row of `batch` as if its rows were created one by one: a row
/// whose email (checked first) or username is held in `existing` or by a user
/// created earlier in the batch is skipped with that user's id.
pub(crate) fn plan<'a>(batch: &'a Batch, existing: &HashMap<String, Uuid>) -> Plan<'a> {
    let mut taken: HashMap<&'a str, Uuid> = HashMap::new();
    let mut plan = Plan {
        users: Vec::new(),
        identifiers: Vec::new(),
        rows: Vec::with_capacity(batch.rows.len()),
        counts: Counters::default(),
    };
    for (row, input) in &batch.rows {
        let row = *row;
        let outcome = match input {
            RowInput::Failed(message) => RowOutcome {
                row,
                status: RowStatus::Failed,
                user_id: None,
                message: message.as_str().into(),
            },
            RowInput::Create(user) => {
                let holder =
                    |ident: &str| existing.get(ident).or_else(|| taken.get(ident)).copied();
                let email = user.email.as_ref().map(Email::as_str);
                let clash = email
                    .and_then(|e| holder(e).map(|id| ("email", id)))
                    .or_else(|| holder(user.username.as_str()).map(|id| ("username", id)));
                match clash {
                    Some((field, id)) => RowOutcome {
                        row,
                        status: RowStatus::Skipped,
                        user_id: Some(id),
                        message: format!("row {row}: {field}: already exists").into(),
                    },
                    None => {
                        for ident in user.identifiers() {
                            taken.insert(ident, user.id);
                            plan.identifiers.push((ident, user.id));
                        }
                        plan.users.push(user);
                        RowOutcome {
                            row,
                            status: RowStatus::Success,
                            user_id: Some(user.id),
                            message: format!("row {row}: created").into(),
                        }
                    }
                }
            }
        };
        plan.counts.count(outcome.status);
        plan.rows.push(outcome);
    }
    plan
}

/// A job's stored counters.
#[derive(sqlx::FromRow)]
pub(crate) struct CountersRow {
    pub total: i64,
    pub successful: i64,
    pub failed: i64,
    pub skipped: i64,
}

impl CountersRow {
    pub(crate) fn into_counters(self) -> Result<Counters> {
        Ok(Counters {
            total: unsigned(self.total, "total")?,
            successful: unsigned(self.successful, "successful")?,
            failed: unsigned(self.failed, "failed")?,
            skipped: unsigned(self.skipped, "skipped")?,
        })
    }
}

/// The distinct statuses of `statuses`, in a fixed order.
pub(crate) fn distinct(statuses: &[RowStatus]) -> Vec<RowStatus> {
    [RowStatus::Success, RowStatus::Skipped, RowStatus::Failed]
        .into_iter()
        .filter(|s| statuses.contains(s))
        .collect()
}

/// A count or byte offset as stored (a signed 64-bit integer).
pub(crate) fn stored(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aegis_core::identity::Username;
    use aegis_core::user::Role;

    use super::*;

    fn user(username: &str, email: Option<&str>) -> RowInput {
        RowInput::Create(Box::new(NewUser {
            id: Uuid::now_v7(),
            username: Username::from_stored(username.to_owned()),
            email: email.map(|e| Email::from_stored(e.to_owned())),
            password_hash: None,
            profile: BTreeMap::new(),
            role: Role::User,
            active: true,
            verified: false,
            password_expired: false,
            phone: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
        }))
    }

    #[test]
    fn rows_are_decided_in_order() {
        let old = Uuid::now_v7();
        let existing = HashMap::from([("taken@x.org".to_owned(), old)]);
        let batch = Batch {
            rows: vec![
                (1, user("ann", Some("ann@x.org"))),
                (2, user("bob", Some("taken@x.org"))),
                (3, RowInput::Failed("row 3: email: invalid".into())),
                // Its username is row 1's email.
                (4, user("ann@x.org", Some("cid@x.org"))),
                // Its email is row 1's username; being skipped, it leaves "dan" to row 6.
                (5, user("dan", Some("ann"))),
                (6, user("dan", Some("dan@x.org"))),
                (7, user("eve@x.org", Some("eve@x.org"))),
            ],
            offset: 99,
        };
        assert_eq!(
            batch.identifiers(),
            [
                "ann",
                "ann@x.org",
                "bob",
                "taken@x.org",
                "cid@x.org",
                "dan",
                "dan@x.org",
                "eve@x.org"
            ]
        );
        let plan = plan(&batch, &existing);
        let id = |row: usize| match &batch.rows[row - 1].1 {
            RowInput::Create(u) => u.id,
            RowInput::Failed(_) => panic!("not a user"),
        };
        let got: Vec<_> = plan
            .rows
            .iter()
            .map(|r| (r.row, r.status, r.user_id, r.message.to_string()))
            .collect();
        use RowStatus::*;
        assert_eq!(
            got,
            [
                (1, Success, Some(id(1)), "row 1: created".to_owned()),
                (
                    2,
                    Skipped,
                    Some(old),
                    "row 2: email: already exists".to_owned()
                ),
                (3, Failed, None, "row 3: email: invalid".to_owned()),
                (
                    4,
                    Skipped,
                    Some(id(1)),
                    "row 4: username: already exists".to_owned()
                ),
                (
                    5,
                    Skipped,
                    Some(id(1)),
                    "row 5: email: already exists".to_owned()
                ),
                (6, Success, Some(id(6)), "row 6: created".to_owned()),
                (7, Success, Some(id(7)), "row 7: created".to_owned()),
            ]
        );
        assert_eq!(
            plan.users.iter().map(|u| u.id).collect::<Vec<_>>(),
            [id(1), id(6), id(7)]
        );
        assert_eq!(
            plan.identifiers,
            [
                ("ann", id(1)),
                ("ann@x.org", id(1)),
                ("dan", id(6)),
                ("dan@x.org", id(6)),
                ("eve@x.org", id(7)),
            ]
        );
        assert_eq!(
            (
                plan.counts.total,
                plan.counts.successful,
                plan.counts.failed,
                plan.counts.skipped
            ),
            (7, 3, 1, 3)
        );
    }
}
