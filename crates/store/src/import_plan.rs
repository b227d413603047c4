//! The outcome of each row of an import batch, decided before anything is written
//! and shared by both backends: which users to create, which rows to skip because
//! an identifier exists (in the store or earlier in the batch), and the report of
//! every row.
//!
//! A failed or skipped row is stored with its own report (`import_rows`): its
//! message says why. The rows that created a user say only that, so a batch
//! stores them together, as one packed record (`import_created`, see
//! [`Plan::created_record`]): one write per batch instead of one per row, which
//! is a fifth of what an imported user costs.

use std::collections::HashMap;

use aegis_core::identity::IdentifierKeys;
use aegis_core::import::{Batch, Counters, RowInput, RowReport, RowStatus};
use aegis_core::user::NewUser;
use aegis_core::Result;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::convert::{corrupt, unsigned};

/// The recorded outcome of a failed or skipped row, before it is written.
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
    /// The keys of the identifier table they hold (identifiers and
    /// confusable skeletons), with the user holding each.
    pub identifiers: Vec<(std::borrow::Cow<'a, str>, Uuid)>,
    /// The failed and skipped rows, in batch order.
    pub reports: Vec<RowOutcome<'a>>,
    /// The rows that created a user, in batch order, with the user's id.
    pub created: Vec<(u64, Uuid)>,
    /// The outcomes counted.
    pub counts: Counters,
}

/// Bytes per created row in a packed record: the row number (`u64`,
/// little-endian) and the user's id.
const CREATED_ENTRY: usize = 8 + 16;

impl Plan<'_> {
    /// The batch's created rows as one record: the first such row (the record's
    /// key within its job) and the rows packed, [`CREATED_ENTRY`] bytes each.
    /// `None` when the batch created nobody.
    pub(crate) fn created_record(&self) -> Option<(u64, Vec<u8>)> {
        let first = self.created.first()?.0;
        let mut packed = Vec::with_capacity(self.created.len() * CREATED_ENTRY);
        for (row, id) in &self.created {
            packed.extend_from_slice(&row.to_le_bytes());
            packed.extend_from_slice(id.as_bytes());
        }
        Some((first, packed))
    }
}

/// The reports of the created rows packed by [`Plan::created_record`] in a batch
/// committed at `at`, in row order, at most `limit` of them. Rows not after
/// `after` (the last row already read), or not a stored row number, are corrupt.
fn created_reports(
    packed: &[u8],
    at: DateTime<Utc>,
    mut after: u64,
    limit: usize,
) -> Result<Vec<RowReport>> {
    if !packed.len().is_multiple_of(CREATED_ENTRY) {
        return Err(corrupt("packed"));
    }
    let mut reports = Vec::with_capacity((packed.len() / CREATED_ENTRY).min(limit));
    for entry in packed.chunks_exact(CREATED_ENTRY).take(limit) {
        let (row, id) = entry.split_at(8);
        let row = u64::from_le_bytes(row.try_into().map_err(|_| corrupt("packed"))?);
        if row <= after || i64::try_from(row).is_err() {
            return Err(corrupt("packed"));
        }
        after = row;
        let id = Uuid::from_slice(id).map_err(|_| corrupt("packed"))?;
        reports.push(RowReport {
            row,
            status: RowStatus::Success,
            user_id: Some(id),
            message: created_message(row),
            created_at: at,
        });
    }
    Ok(reports)
}

/// What a created row's report says.
fn created_message(row: u64) -> String {
    format!("row {row}: created")
}

/// Two lists of reports in row order merged into one, cut at `limit`.
fn merge(a: Vec<RowReport>, b: Vec<RowReport>, limit: usize) -> Vec<RowReport> {
    let mut out = Vec::with_capacity((a.len() + b.len()).min(limit));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while out.len() < limit {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.row <= y.row => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(report) => out.push(report),
            None => break,
        }
    }
    out
}

/// The created rows of a job, gathered from its `import_created` records read a
/// page at a time, in row order, until `limit` reports or the last record:
///
/// ```text
/// while let Some(after) = created.next_after() {
///     // SELECT first_row, created_at, packed FROM import_created
///     //  WHERE job_id = ? AND first_row > after ORDER BY first_row LIMIT CreatedRows::PAGE
///     created.add(page)?;
/// }
/// let reports = created.merged(reports_from_import_rows);
/// ```
pub(crate) struct CreatedRows {
    reports: Vec<RowReport>,
    limit: usize,
    /// The `first_row` of the last record read; `None` once done.
    after: Option<i64>,
}

impl CreatedRows {
    /// Records per page (each holds up to a batch of rows).
    pub(crate) const PAGE: i64 = 8;

    /// Nothing to read unless `wanted` holds `Success`.
    pub(crate) fn new(wanted: &[RowStatus], limit: u32) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Self {
            reports: Vec::new(),
            limit,
            after: (wanted.contains(&RowStatus::Success) && limit > 0).then_some(0),
        }
    }

    /// The `first_row` after which the next page starts; `None` when done.
    pub(crate) fn next_after(&self) -> Option<i64> {
        self.after
    }

    /// One page of records (`first_row`, commit time, packed rows), in order.
    pub(crate) fn add(&mut self, page: Vec<(i64, DateTime<Utc>, Vec<u8>)>) -> Result<()> {
        let full = i64::try_from(page.len()).is_ok_and(|n| n >= Self::PAGE);
        for (first, at, packed) in page {
            let last = self.reports.last().map_or(0, |r| r.row);
            let more = created_reports(&packed, at, last, self.limit - self.reports.len())?;
            if more.first().map(|r| r.row) != Some(unsigned(first, "first_row")?) {
                return Err(corrupt("first_row"));
            }
            self.reports.extend(more);
            self.after = Some(first);
            if self.reports.len() >= self.limit {
                break;
            }
        }
        if !full || self.reports.len() >= self.limit {
            self.after = None;
        }
        Ok(())
    }

    /// `reports` (from `import_rows`, in row order) merged with the created rows,
    /// cut at the limit.
    pub(crate) fn merged(self, reports: Vec<RowReport>) -> Vec<RowReport> {
        merge(reports, self.reports, self.limit)
    }
}

/// Decides every row of `batch` as if its rows were created one by one: a row
/// whose email (checked first) or username is held in `existing` or by a user
/// created earlier in the batch is skipped with that user's id.
pub(crate) fn plan<'a>(batch: &'a Batch, existing: &HashMap<String, Uuid>) -> Plan<'a> {
    let mut taken: HashMap<std::borrow::Cow<'a, str>, Uuid> = HashMap::new();
    let mut plan = Plan {
        users: Vec::new(),
        identifiers: Vec::new(),
        reports: Vec::new(),
        created: Vec::with_capacity(batch.rows.len()),
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
                let holder = |key: &str| existing.get(key).or_else(|| taken.get(key)).copied();
                // An identifier is taken when another user holds it or a
                // look-alike of it (its keys, held or probed). Each
                // identifier's keys are worked out once.
                let name_keys = IdentifierKeys::of(user.username.as_str());
                let email_keys = user.email.as_ref().map(|e| IdentifierKeys::of(e.as_str()));
                let taken_by = |keys: &IdentifierKeys<'_>| keys.all().find_map(holder);
                let clash = email_keys
                    .as_ref()
                    .and_then(|k| taken_by(k).map(|id| ("email", id)))
                    .or_else(|| taken_by(&name_keys).map(|id| ("username", id)));
                let Some((field, id)) = clash else {
                    let keys = match email_keys {
                        Some(email_keys) => name_keys.join(email_keys),
                        None => name_keys,
                    };
                    for key in keys.held {
                        taken.insert(key.clone(), user.id);
                        plan.identifiers.push((key, user.id));
                    }
                    plan.users.push(user);
                    plan.created.push((row, user.id));
                    plan.counts.count(RowStatus::Success);
                    continue;
                };
                RowOutcome {
                    row,
                    status: RowStatus::Skipped,
                    user_id: Some(id),
                    message: format!("row {row}: {field}: already exists").into(),
                }
            }
        };
        plan.counts.count(outcome.status);
        plan.reports.push(outcome);
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

    use aegis_core::identity::{Email, Username};
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
                // A look-alike of row 1's username (a Cyrillic а).
                (8, user("\u{430}nn", None)),
            ],
            offset: 99,
        };
        let keys = batch.identifiers();
        // The exact identifiers (besides, the confusable skeleton keys).
        let exact: Vec<&str> = keys
            .iter()
            .map(|k| k.as_ref())
            .filter(|k| !k.starts_with('\u{1}'))
            .collect();
        assert_eq!(
            exact,
            [
                "ann",
                "ann@x.org",
                "bob",
                "taken@x.org",
                "cid@x.org",
                "dan",
                "dan@x.org",
                "eve@x.org",
                "\u{430}nn"
            ]
        );
        let plan = plan(&batch, &existing);
        let id = |row: usize| match &batch.rows[row - 1].1 {
            RowInput::Create(u) => u.id,
            RowInput::Failed(_) => panic!("not a user"),
        };
        let got: Vec<_> = plan
            .reports
            .iter()
            .map(|r| (r.row, r.status, r.user_id, r.message.to_string()))
            .collect();
        use RowStatus::*;
        assert_eq!(
            got,
            [
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
                (
                    8,
                    Skipped,
                    Some(id(1)),
                    "row 8: username: already exists".to_owned()
                ),
            ]
        );
        assert_eq!(plan.created, [(1, id(1)), (6, id(6)), (7, id(7))]);
        assert_eq!(
            plan.users.iter().map(|u| u.id).collect::<Vec<_>>(),
            [id(1), id(6), id(7)]
        );
        assert_eq!(
            plan.identifiers
                .iter()
                .map(|(k, id)| (k.as_ref(), *id))
                .collect::<Vec<_>>(),
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
            (8, 3, 1, 4)
        );
    }

    #[test]
    fn created_rows_pack_and_unpack() {
        let ids = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        let plan = Plan {
            users: Vec::new(),
            identifiers: Vec::new(),
            reports: Vec::new(),
            created: vec![(5, ids[0]), (6, ids[1]), (9, ids[2])],
            counts: Counters::default(),
        };
        let (first, packed) = plan.created_record().expect("rows were created");
        assert_eq!((first, packed.len()), (5, 3 * CREATED_ENTRY));
        let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("a time");
        let got = created_reports(&packed, at, 0, 10).expect("well formed");
        let expected = [(5, ids[0]), (6, ids[1]), (9, ids[2])];
        assert_eq!(got.len(), 3);
        for (report, (row, id)) in got.iter().zip(expected) {
            assert_eq!(report.row, row);
            assert_eq!(report.status, RowStatus::Success);
            assert_eq!(report.user_id, Some(id));
            assert_eq!(report.message, format!("row {row}: created"));
            assert_eq!(report.created_at, at);
        }
        assert_eq!(created_reports(&packed, at, 0, 2).expect("cut").len(), 2);
        assert!(created_reports(&packed[1..], at, 0, 10).is_err());
        // Rows must come after the last one read, in order.
        assert!(created_reports(&packed, at, 5, 10).is_err());
        let mut swapped = packed[CREATED_ENTRY..2 * CREATED_ENTRY].to_vec();
        swapped.extend_from_slice(&packed[..CREATED_ENTRY]);
        assert!(created_reports(&swapped, at, 0, 10).is_err());
        let nobody = Plan {
            created: Vec::new(),
            ..plan
        };
        assert!(nobody.created_record().is_none());
    }

    #[test]
    fn reports_merge_in_row_order() {
        let report = |row| RowReport {
            row,
            status: RowStatus::Success,
            user_id: None,
            message: String::new(),
            created_at: chrono::DateTime::UNIX_EPOCH,
        };
        let rows = |v: &[RowReport]| v.iter().map(|r| r.row).collect::<Vec<_>>();
        let a = || vec![report(1), report(4), report(5)];
        let b = || vec![report(2), report(3), report(9)];
        assert_eq!(rows(&merge(a(), b(), 10)), [1, 2, 3, 4, 5, 9]);
        assert_eq!(rows(&merge(a(), b(), 4)), [1, 2, 3, 4]);
        assert_eq!(rows(&merge(Vec::new(), b(), 2)), [2, 3]);
        assert_eq!(rows(&merge(a(), Vec::new(), 10)), [1, 4, 5]);
    }
}
