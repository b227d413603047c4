//! Bulk import: sources and their chunks, job leases, batches of users with their
//! row reports, and the lease check that keeps a lost owner from writing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aegis_core::identity::{Email, Username};
use aegis_core::import::mapping::FieldMapping;
use aegis_core::import::{
    Batch, Counters, FieldType, HashAlgorithm, HashParams, ImportJob, ImportSource, JobStatus,
    Mapping, RowInput, RowReport, RowStatus, SourceField, SourceFormat, Target, Turn,
};
use aegis_core::user::{NewUser, Role};
use aegis_core::Store;
use uuid::Uuid;

use crate::fixtures::{conflict, new_user, not_found, t};

fn source(expires: i64) -> ImportSource {
    ImportSource {
        id: Uuid::now_v7(),
        format: SourceFormat::Csv,
        fields: Vec::new(),
        size: 0,
        chunks: 0,
        created_at: t(0),
        expires_at: t(expires),
    }
}

fn job(name: &str, created: i64) -> ImportJob {
    ImportJob {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        source_id: Uuid::now_v7(),
        format: SourceFormat::Csv,
        mapping: Mapping {
            fields: vec![
                FieldMapping {
                    column: "mail".to_owned(),
                    target: Target::Email,
                },
                FieldMapping {
                    column: "pw".to_owned(),
                    target: Target::Password,
                },
                FieldMapping {
                    column: "nick".to_owned(),
                    target: Target::Profile("nickname".to_owned()),
                },
            ],
            password: Some(HashParams::new(HashAlgorithm::Bcrypt)),
        },
        status: JobStatus::Pending,
        counters: Counters::default(),
        offset: 0,
        error: None,
        created_at: t(created),
        updated_at: t(created),
    }
}

/// A valid row: a user with a password hash and a phone, created at `t(50)`.
fn create(username: &str, email: Option<&str>) -> RowInput {
    RowInput::Create(Box::new(NewUser {
        id: Uuid::now_v7(),
        // The importer hands over normalised values; the store does not check them.
        username: Username::from_stored(username.to_owned()),
        email: email.map(|e| Email::from_stored(e.to_owned())),
        password_hash: Some(format!("$2b$10$hash-of-{username}")),
        profile: BTreeMap::from([("nickname".to_owned(), format!("{username}!"))]),
        role: Role::User,
        active: true,
        verified: true,
        password_expired: false,
        phone: Some("+15550100".to_owned()),
        created_at: t(50),
    }))
}

fn user_id(input: &RowInput) -> Uuid {
    match input {
        RowInput::Create(user) => user.id,
        RowInput::Failed(_) => panic!("a failed row has no user"),
    }
}

fn report(row: u64, status: RowStatus, user_id: Option<Uuid>, message: &str) -> RowReport {
    RowReport {
        row,
        status,
        user_id,
        message: message.to_owned(),
        created_at: t(60),
    }
}

fn counters(total: u64, successful: u64, failed: u64, skipped: u64) -> Counters {
    Counters {
        total,
        successful,
        failed,
        skipped,
    }
}

fn rows_of(reports: &[RowReport]) -> Vec<u64> {
    reports.iter().map(|r| r.row).collect()
}

/// A new job "crm", claimed until `t(100)` by the owner returned with it.
async fn claimed_job(s: &dyn Store) -> (ImportJob, Uuid) {
    let j = job("crm", 0);
    s.insert_import_job(&j).await.unwrap();
    let owner = Uuid::now_v7();
    s.claim_import_job(owner, t(1), t(100))
        .await
        .unwrap()
        .unwrap();
    (j, owner)
}

pub async fn import_sources_round_trip_and_purge(store: Arc<dyn Store>) {
    let s = &*store;
    let mut src = source(100);
    s.create_import_source(&src).await.unwrap();
    let big = vec![0xa5u8; aegis_core::import::CHUNK_SIZE];
    s.put_import_chunk(src.id, 0, &big).await.unwrap();
    s.put_import_chunk(src.id, 1, b"first try").await.unwrap();
    // A retried write replaces the chunk.
    s.put_import_chunk(src.id, 1, b"tail").await.unwrap();
    // Uploading: the chunks are there, the source is not yet visible.
    assert_eq!(s.find_import_source(src.id).await.unwrap(), None);
    assert_eq!(
        s.get_import_chunk(src.id, 1).await.unwrap().unwrap(),
        b"tail"
    );

    src.fields = vec![
        SourceField {
            name: "email".to_owned(),
            kind: FieldType::String,
        },
        SourceField {
            name: "age".to_owned(),
            kind: FieldType::Int,
        },
    ];
    src.size = big.len() as u64 + 4;
    src.chunks = 2;
    s.complete_import_source(&src).await.unwrap();
    assert_eq!(
        s.find_import_source(src.id).await.unwrap(),
        Some(src.clone())
    );
    assert_eq!(s.get_import_chunk(src.id, 0).await.unwrap(), Some(big));
    assert_eq!(s.get_import_chunk(src.id, 2).await.unwrap(), None);

    // Unknown sources.
    let unknown = Uuid::now_v7();
    assert_eq!(
        not_found(s.put_import_chunk(unknown, 0, b"x").await),
        "import source"
    );
    assert_eq!(
        not_found(s.complete_import_source(&source(100)).await),
        "import source"
    );
    assert_eq!(s.get_import_chunk(unknown, 0).await.unwrap(), None);
    s.delete_import_source(unknown).await.unwrap();

    // A failed upload is deleted with its chunks.
    let failed = source(100);
    s.create_import_source(&failed).await.unwrap();
    s.put_import_chunk(failed.id, 0, b"partial").await.unwrap();
    s.delete_import_source(failed.id).await.unwrap();
    assert_eq!(s.get_import_chunk(failed.id, 0).await.unwrap(), None);

    // Purge: an expired complete source and an expired upload go; one expiring
    // exactly at the cut-off stays (strictly before).
    let uploading = source(50);
    s.create_import_source(&uploading).await.unwrap();
    s.put_import_chunk(uploading.id, 0, b"partial")
        .await
        .unwrap();
    let mut edge = source(150);
    s.create_import_source(&edge).await.unwrap();
    edge.chunks = 0;
    s.complete_import_source(&edge).await.unwrap();
    // An expired source is still found (the caller checks `expires_at`).
    assert_eq!(
        s.find_import_source(src.id).await.unwrap(),
        Some(src.clone())
    );
    assert_eq!(s.purge_import_sources(t(150)).await.unwrap(), 2);
    assert_eq!(s.find_import_source(src.id).await.unwrap(), None);
    assert_eq!(s.get_import_chunk(src.id, 0).await.unwrap(), None);
    assert_eq!(s.get_import_chunk(uploading.id, 0).await.unwrap(), None);
    assert_eq!(s.find_import_source(edge.id).await.unwrap(), Some(edge));
    assert_eq!(s.purge_import_sources(t(150)).await.unwrap(), 0);
}

pub async fn import_jobs_are_claimed_once(store: Arc<dyn Store>) {
    let s = &*store;
    let (o1, o2, o3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let second = job("second", 1);
    let first = job("first", 0);
    s.insert_import_job(&second).await.unwrap();
    s.insert_import_job(&first).await.unwrap();
    assert_eq!(conflict(s.insert_import_job(&first).await), "id");
    assert_eq!(
        s.find_import_job(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(s.find_import_job(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        s.list_import_jobs().await.unwrap(),
        [first.clone(), second.clone()]
    );

    // Oldest first, each to one claimant.
    let claimed = s.claim_import_job(o1, t(10), t(20)).await.unwrap();
    assert_eq!(claimed, Some(first.clone()));
    let claimed = s.claim_import_job(o2, t(10), t(20)).await.unwrap();
    assert_eq!(claimed.map(|j| j.id), Some(second.id));
    assert_eq!(s.claim_import_job(o3, t(19), t(30)).await.unwrap(), None);

    // A lease that ended can be taken over; the former owner can no longer finish.
    let claimed = s.claim_import_job(o3, t(21), t(40)).await.unwrap();
    assert_eq!(claimed.map(|j| j.id), Some(first.id));
    assert_eq!(
        conflict(
            s.finish_import_job(first.id, o1, JobStatus::Success, None, t(22))
                .await
        ),
        "lease"
    );
    s.finish_import_job(first.id, o3, JobStatus::Success, None, t(23))
        .await
        .unwrap();
    let done = s.find_import_job(first.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.updated_at), (JobStatus::Success, t(23)));
    // Finished twice, or by nobody's lease.
    assert_eq!(
        conflict(
            s.finish_import_job(first.id, o3, JobStatus::Failed, None, t(24))
                .await
        ),
        "lease"
    );

    s.finish_import_job(
        second.id,
        o2,
        JobStatus::Failed,
        Some("source expired"),
        t(25),
    )
    .await
    .unwrap();
    let failed = s.find_import_job(second.id).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("source expired"));

    // Finished jobs are never claimed again, whatever their lease was.
    assert_eq!(
        s.claim_import_job(o1, t(1000), t(1100)).await.unwrap(),
        None
    );

    // Concurrent claimants never share a job.
    let mut jobs: Vec<Uuid> = Vec::new();
    for i in 0..4 {
        let j = job(&format!("race {i}"), 100 + i);
        s.insert_import_job(&j).await.unwrap();
        jobs.push(j.id);
    }
    let claims = (0..10).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_import_job(Uuid::now_v7(), t(200), t(300))
                .await
                .unwrap()
                .map(|j| j.id)
        })
    });
    let mut won: Vec<Uuid> = Vec::new();
    for claim in futures::future::join_all(claims).await {
        won.extend(claim.unwrap());
    }
    won.sort();
    assert_eq!(won, jobs);
}

pub async fn released_jobs_are_claimed_at_once(store: Arc<dyn Store>) {
    let s = &*store;
    let (owner, other) = (Uuid::now_v7(), Uuid::now_v7());
    let j = job("paused", 0);
    s.insert_import_job(&j).await.unwrap();
    s.claim_import_job(owner, t(10), t(100)).await.unwrap();
    assert_eq!(
        s.claim_import_job(other, t(11), t(111)).await.unwrap(),
        None
    );
    // Only the holder can give the lease back.
    assert!(!s.release_import_job(j.id, other).await.unwrap());
    assert!(s.release_import_job(j.id, owner).await.unwrap());
    assert!(!s.release_import_job(j.id, owner).await.unwrap());
    // Long before the lease would have ended, another owner takes the job
    // where it was; the former owner can no longer finish it.
    let claimed = s.claim_import_job(other, t(12), t(112)).await.unwrap();
    assert_eq!(claimed.map(|c| c.id), Some(j.id));
    assert_eq!(
        conflict(
            s.finish_import_job(j.id, owner, JobStatus::Success, None, t(13))
                .await
        ),
        "lease"
    );
    s.finish_import_job(j.id, other, JobStatus::Success, None, t(14))
        .await
        .unwrap();
    // A finished job has no lease to give back.
    assert!(!s.release_import_job(j.id, other).await.unwrap());
}

pub async fn import_batches_create_skip_and_report(store: Arc<dyn Store>) {
    let s = &*store;
    let old = s
        .insert_user(&new_user("old", Some("old@x.org")))
        .await
        .unwrap();
    let j = job("crm", 0);
    s.insert_import_job(&j).await.unwrap();
    let owner = Uuid::now_v7();
    s.claim_import_job(owner, t(1), t(100)).await.unwrap();

    let mut bare = create("bob", None);
    if let RowInput::Create(user) = &mut bare {
        user.password_hash = None;
        user.phone = None;
    }
    let batch = Batch {
        rows: vec![
            (1, create("ann", Some("ann@x.org"))),
            (2, create("zed", Some("old@x.org"))),
            (
                3,
                RowInput::Failed("row 3: email: does not match pattern".to_owned()),
            ),
            (4, create("old", Some("new@x.org"))),
            // Row 1's email as a username, row 1's username as an email.
            (5, create("ann@x.org", Some("ann5@x.org"))),
            (6, create("ann6", Some("ann"))),
            (7, bare),
            // The same value as username and email: one identifier.
            (8, create("cy@x.org", Some("cy@x.org"))),
        ],
        offset: 1234,
    };
    let (ann, bob, cy) = (
        user_id(&batch.rows[0].1),
        user_id(&batch.rows[6].1),
        user_id(&batch.rows[7].1),
    );
    let got = s
        .commit_import_batch(j.id, owner, &batch, t(60), t(160), &mut Turn::now())
        .await
        .unwrap();
    assert_eq!(got, counters(8, 3, 1, 4));
    let stored = s.find_import_job(j.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.counters, stored.offset, stored.updated_at),
        (got, 1234, t(60))
    );
    assert_eq!(stored.status, JobStatus::Pending);

    // The created users, found by both identifiers, with hash, phone and profile.
    for ident in ["ann", "ann@x.org"] {
        let (user, hash) = s.find_user_by_identifier(ident).await.unwrap().unwrap();
        assert_eq!(user.id, ann);
        assert_eq!(hash.as_deref(), Some("$2b$10$hash-of-ann"));
        assert_eq!(user.phone.as_deref(), Some("+15550100"));
        assert_eq!(user.profile["nickname"], "ann!");
        assert!(user.active && user.verified && !user.password_expired);
        assert_eq!(
            (user.created_at, user.updated_at, user.password_set_at),
            (t(50), t(50), Some(t(50)))
        );
    }
    let (user, hash) = s.find_user_by_identifier("bob").await.unwrap().unwrap();
    assert_eq!((user.id, hash, user.password_set_at), (bob, None, None));
    assert_eq!(user.email, None);
    let (user, _) = s
        .find_user_by_identifier("cy@x.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, cy);
    // Skipped rows created nothing.
    for ident in ["zed", "new@x.org", "ann5@x.org", "ann6"] {
        assert_eq!(s.find_user_by_identifier(ident).await.unwrap(), None);
    }
    let (user, _) = s.find_user_by_identifier("old").await.unwrap().unwrap();
    assert_eq!(user, old);

    let all = [RowStatus::Success, RowStatus::Skipped, RowStatus::Failed];
    let expected = vec![
        report(1, RowStatus::Success, Some(ann), "row 1: created"),
        report(
            2,
            RowStatus::Skipped,
            Some(old.id),
            "row 2: email: already exists",
        ),
        report(
            3,
            RowStatus::Failed,
            None,
            "row 3: email: does not match pattern",
        ),
        report(
            4,
            RowStatus::Skipped,
            Some(old.id),
            "row 4: username: already exists",
        ),
        report(
            5,
            RowStatus::Skipped,
            Some(ann),
            "row 5: username: already exists",
        ),
        report(
            6,
            RowStatus::Skipped,
            Some(ann),
            "row 6: email: already exists",
        ),
        report(7, RowStatus::Success, Some(bob), "row 7: created"),
        report(8, RowStatus::Success, Some(cy), "row 8: created"),
    ];
    assert_eq!(s.import_rows(j.id, &all, 100).await.unwrap(), expected);

    // The next batch sees the users of the first; counters add up.
    let batch = Batch {
        rows: vec![
            (9, create("ann", Some("ann9@x.org"))),
            (10, create("dee", Some("dee@x.org"))),
        ],
        offset: 2000,
    };
    let dee = user_id(&batch.rows[1].1);
    let got = s
        .commit_import_batch(j.id, owner, &batch, t(70), t(170), &mut Turn::now())
        .await
        .unwrap();
    assert_eq!(got, counters(10, 4, 1, 5));
    assert_eq!(s.find_import_job(j.id).await.unwrap().unwrap().offset, 2000);
    // An empty batch (the end of the file) moves only the checkpoint.
    let end = Batch {
        rows: Vec::new(),
        offset: 2100,
    };
    let got = s
        .commit_import_batch(j.id, owner, &end, t(80), t(180), &mut Turn::now())
        .await
        .unwrap();
    assert_eq!(got, counters(10, 4, 1, 5));
    assert_eq!(s.find_import_job(j.id).await.unwrap().unwrap().offset, 2100);

    // Listings by status, in row order, limited.
    let rows = |statuses: &'static [RowStatus], limit| {
        let store = store.clone();
        async move { store.import_rows(j.id, statuses, limit).await.unwrap() }
    };
    assert_eq!(
        rows_of(&rows(&[RowStatus::Skipped], 100).await),
        [2, 4, 5, 6, 9]
    );
    assert_eq!(rows_of(&rows(&[RowStatus::Skipped], 2).await), [2, 4]);
    assert_eq!(
        rows_of(&rows(&[RowStatus::Failed, RowStatus::Success], 100).await),
        [1, 3, 7, 8, 10]
    );
    assert_eq!(
        rows_of(&rows(&[RowStatus::Success, RowStatus::Success], 3).await),
        [1, 7, 8]
    );
    assert_eq!(rows_of(&rows(all_statuses(), 4).await), [1, 2, 3, 4]);
    assert!(rows(&[], 100).await.is_empty());
    let last = rows(&[RowStatus::Success], 100).await.pop().unwrap();
    assert_eq!(
        last,
        RowReport {
            created_at: t(70),
            ..report(10, RowStatus::Success, Some(dee), "row 10: created")
        }
    );
    assert!(s
        .import_rows(Uuid::now_v7(), &all, 100)
        .await
        .unwrap()
        .is_empty());
}

fn all_statuses() -> &'static [RowStatus] {
    &[RowStatus::Failed, RowStatus::Skipped, RowStatus::Success]
}

pub async fn import_batch_needs_the_lease(store: Arc<dyn Store>) {
    let s = &*store;
    let j = job("crm", 0);
    s.insert_import_job(&j).await.unwrap();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let batch = |row: u64, name: &str| Batch {
        rows: vec![(row, create(name, Some(format!("{name}@x.org").as_str())))],
        offset: row * 100,
    };

    // Not claimed yet: nobody holds it.
    assert_eq!(
        conflict(
            s.commit_import_batch(
                j.id,
                first,
                &batch(1, "early"),
                t(1),
                t(10),
                &mut Turn::now()
            )
            .await
        ),
        "lease"
    );
    s.claim_import_job(first, t(1), t(10))
        .await
        .unwrap()
        .unwrap();
    s.commit_import_batch(j.id, first, &batch(1, "ann"), t(5), t(10), &mut Turn::now())
        .await
        .unwrap();

    // The lease ran out and another instance took the job over.
    let resumed = s
        .claim_import_job(second, t(11), t(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((resumed.id, resumed.offset), (j.id, 100));
    assert_eq!(
        conflict(
            s.commit_import_batch(
                j.id,
                first,
                &batch(2, "bob"),
                t(12),
                t(20),
                &mut Turn::now()
            )
            .await
        ),
        "lease"
    );
    // Nothing of the refused batch was written.
    assert_eq!(s.find_user_by_identifier("bob").await.unwrap(), None);
    assert_eq!(s.find_user_by_identifier("bob@x.org").await.unwrap(), None);
    let after = s.find_import_job(j.id).await.unwrap().unwrap();
    assert_eq!((after.counters, after.offset), (counters(1, 1, 0, 0), 100));
    assert_eq!(after.updated_at, t(5));
    assert_eq!(
        rows_of(&s.import_rows(j.id, all_statuses(), 10).await.unwrap()),
        [1]
    );
    assert_eq!(
        conflict(
            s.finish_import_job(j.id, first, JobStatus::Success, None, t(13))
                .await
        ),
        "lease"
    );

    // The new owner goes on from the checkpoint.
    let got = s
        .commit_import_batch(
            j.id,
            second,
            &batch(2, "bob"),
            t(14),
            t(30),
            &mut Turn::now(),
        )
        .await
        .unwrap();
    assert_eq!(got, counters(2, 2, 0, 0));
    s.finish_import_job(j.id, second, JobStatus::Success, None, t(15))
        .await
        .unwrap();
    // A finished job takes no more batches.
    assert_eq!(
        conflict(
            s.commit_import_batch(
                j.id,
                second,
                &batch(3, "cy"),
                t(16),
                t(30),
                &mut Turn::now()
            )
            .await
        ),
        "lease"
    );
    assert_eq!(s.find_user_by_identifier("cy").await.unwrap(), None);
}

/// A batch written beside the one before it (PostgreSQL) commits only when its
/// turn comes, after that one; a refused or late turn writes nothing.
pub async fn import_batches_commit_in_turn(store: Arc<dyn Store>) {
    let s = &*store;
    let (j, owner) = claimed_job(s).await;
    let batch = |first: u64, names: [&str; 2]| Batch {
        rows: (first..)
            .zip(names)
            .map(|(row, name)| (row, create(name, Some(format!("{name}@x.org").as_str()))))
            .collect(),
        offset: (first + 1) * 100,
    };
    let nothing_of = |names: [&'static str; 2]| async move {
        for name in names {
            assert_eq!(
                s.find_user_by_identifier(name).await.unwrap(),
                None,
                "{name}"
            );
        }
    };

    // Refused (the batch before failed) or never given: nothing is written.
    let (refused, grant) = Turn::after(Duration::from_secs(30));
    drop(grant);
    let (late, _grant) = Turn::after(Duration::from_millis(50));
    for mut turn in [refused, late] {
        let first = batch(1, ["ann", "abe"]);
        let got = s
            .commit_import_batch(j.id, owner, &first, t(2), t(100), &mut turn)
            .await;
        assert_eq!(conflict(got), "turn");
    }
    nothing_of(["ann", "abe"]).await;
    let job_now = s.find_import_job(j.id).await.unwrap().unwrap();
    assert_eq!((job_now.counters, job_now.offset), (Counters::default(), 0));
    assert!(s
        .import_rows(j.id, all_statuses(), 10)
        .await
        .unwrap()
        .is_empty());

    // The second batch is sent first; it waits for its turn while the first commits.
    let (mut turn, grant) = Turn::after(Duration::from_secs(30));
    let second = tokio::spawn({
        let store = Arc::clone(&store);
        let b = batch(3, ["cy", "cat"]);
        async move {
            store
                .commit_import_batch(j.id, owner, &b, t(4), t(100), &mut turn)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = s
        .commit_import_batch(
            j.id,
            owner,
            &batch(1, ["ann", "abe"]),
            t(3),
            t(100),
            &mut Turn::now(),
        )
        .await
        .unwrap();
    assert_eq!(first, counters(2, 2, 0, 0));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !second.is_finished(),
        "the second batch committed before its turn"
    );
    let job_now = s.find_import_job(j.id).await.unwrap().unwrap();
    assert_eq!(
        (job_now.counters, job_now.offset),
        (counters(2, 2, 0, 0), 200)
    );
    nothing_of(["cy", "cat"]).await;

    grant.give();
    assert_eq!(second.await.unwrap().unwrap(), counters(4, 4, 0, 0));
    let job_now = s.find_import_job(j.id).await.unwrap().unwrap();
    assert_eq!(
        (job_now.counters, job_now.offset),
        (counters(4, 4, 0, 0), 400)
    );
    assert_eq!(
        rows_of(&s.import_rows(j.id, all_statuses(), 10).await.unwrap()),
        [1, 2, 3, 4]
    );
    assert!(s
        .find_user_by_identifier("cat@x.org")
        .await
        .unwrap()
        .is_some());
    // The second batch waited 200 ms and more for its turn: the lease it renewed
    // runs from about its commit, not from when it started writing.
    let later = t(100) + chrono::Duration::milliseconds(150);
    let other = Uuid::now_v7();
    assert!(s
        .claim_import_job(other, later, later + chrono::Duration::seconds(60))
        .await
        .unwrap()
        .is_none());
}

/// PostgreSQL: a registration that takes an identifier between a batch's lookup
/// and its insert makes the insert fail; the batch is tried again and the row skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batch_retries_after_a_concurrent_registration() {
    use sqlx::postgres::PgConnection;
    use sqlx::{Connection, Executor};
    use std::time::Duration;

    crate::with_postgres_schema(|store, options| async move {
        let mut other = PgConnection::connect_with(&options).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let j = job("crm", 0);
        store.insert_import_job(&j).await.unwrap();
        let owner = Uuid::now_v7();
        store.claim_import_job(owner, t(1), t(100)).await.unwrap();

        // The registration is under way: its identifiers are not visible yet.
        let registered = Uuid::now_v7();
        let mut tx = other.begin().await.unwrap();
        tx.execute(
            sqlx::query(
                "INSERT INTO users (id, username, email, role, active, verified, \
                 password_expired, created_at, updated_at) \
                 VALUES ($1, 'ann', 'ann@x.org', 'user', TRUE, FALSE, FALSE, now(), now())",
            )
            .bind(registered),
        )
        .await
        .unwrap();
        tx.execute(
            sqlx::query(
                "INSERT INTO user_identifiers (identifier, user_id) \
                 VALUES ('ann', $1), ('ann@x.org', $1)",
            )
            .bind(registered),
        )
        .await
        .unwrap();

        let batch = Batch {
            rows: vec![
                (1, create("bob", Some("bob@x.org"))),
                (2, create("ann", Some("ann@x.org"))),
            ],
            offset: 10,
        };
        let bob = user_id(&batch.rows[0].1);
        let commit = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .commit_import_batch(j.id, owner, &batch, t(60), t(160), &mut Turn::now())
                    .await
            }
        });
        // The batch waits on the registration's uncommitted keys, then clashes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.commit().await.unwrap();
        let got = commit.await.unwrap().unwrap();
        assert_eq!(got, counters(2, 1, 0, 1));

        let statuses = [RowStatus::Success, RowStatus::Skipped, RowStatus::Failed];
        let rows = store.import_rows(j.id, &statuses, 10).await.unwrap();
        assert_eq!(
            rows,
            [
                report(1, RowStatus::Success, Some(bob), "row 1: created"),
                report(
                    2,
                    RowStatus::Skipped,
                    Some(registered),
                    "row 2: email: already exists"
                ),
            ]
        );
        let (user, _) = store.find_user_by_identifier("bob").await.unwrap().unwrap();
        assert_eq!(user.id, bob);
    })
    .await;
}

/// A job of more batches than one read of `import_created` takes: its created
/// rows come back in row order, merged with the failed ones, cut at the limit.
pub async fn created_rows_are_read_in_pages(store: Arc<dyn Store>) {
    use RowStatus::{Failed, Success};

    let s = &*store;
    let (j, owner) = claimed_job(s).await;
    // 20 batches: an odd row creates a user, an even one fails.
    let mut ids = Vec::new();
    for b in 0..20u64 {
        let (odd, even) = (2 * b + 1, 2 * b + 2);
        let batch = Batch {
            rows: vec![
                (odd, create(&format!("u{odd}"), None)),
                (
                    even,
                    RowInput::Failed(format!("row {even}: email: missing")),
                ),
            ],
            offset: even * 10,
        };
        ids.push(user_id(&batch.rows[0].1));
        s.commit_import_batch(j.id, owner, &batch, t(60), t(100), &mut Turn::now())
            .await
            .unwrap();
    }
    let all = s.import_rows(j.id, all_statuses(), 100).await.unwrap();
    assert_eq!(rows_of(&all), (1..=40).collect::<Vec<_>>());
    for (i, report) in all.iter().enumerate() {
        let row = i as u64 + 1;
        if row % 2 == 1 {
            assert_eq!(
                *report,
                self::report(
                    row,
                    Success,
                    Some(ids[i / 2]),
                    &format!("row {row}: created")
                )
            );
        } else {
            assert_eq!(report.status, Failed);
        }
    }
    let created = s.import_rows(j.id, &[Success], 13).await.unwrap();
    assert_eq!(
        rows_of(&created),
        (0..13).map(|i| 2 * i + 1).collect::<Vec<_>>()
    );
    let first = s.import_rows(j.id, all_statuses(), 17).await.unwrap();
    assert_eq!(rows_of(&first), (1..=17).collect::<Vec<_>>());
    assert!(s.import_rows(j.id, &[Success], 0).await.unwrap().is_empty());
}

/// The rows that created a user are stored one record per batch
/// (`import_created`); those of batches committed before that table, stored one
/// by one in `import_rows`, are still listed, in row order with the newer ones.
/// `earlier` writes such rows the old way.
async fn earlier_created_rows_are_listed<F, Fut>(store: Arc<dyn Store>, earlier: F)
where
    F: FnOnce(Uuid, [(u64, Uuid); 2]) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use RowStatus::{Failed, Success};

    let s = &*store;
    let (j, owner) = claimed_job(s).await;
    let old = [(1, Uuid::now_v7()), (3, Uuid::now_v7())];
    earlier(j.id, old).await;
    let batch = Batch {
        rows: vec![
            (2, create("bo", None)),
            (
                4,
                RowInput::Failed("row 4: email: does not match pattern".into()),
            ),
            (5, create("cy", None)),
        ],
        offset: 500,
    };
    let (bo, cy) = (user_id(&batch.rows[0].1), user_id(&batch.rows[2].1));
    s.commit_import_batch(j.id, owner, &batch, t(60), t(100), &mut Turn::now())
        .await
        .unwrap();

    let earlier = |(row, id): (u64, Uuid)| RowReport {
        created_at: t(7),
        ..report(row, Success, Some(id), &format!("row {row}: created"))
    };
    let all = vec![
        earlier(old[0]),
        report(2, Success, Some(bo), "row 2: created"),
        earlier(old[1]),
        report(4, Failed, None, "row 4: email: does not match pattern"),
        report(5, Success, Some(cy), "row 5: created"),
    ];
    assert_eq!(s.import_rows(j.id, all_statuses(), 10).await.unwrap(), all);
    assert_eq!(
        s.import_rows(j.id, all_statuses(), 3).await.unwrap(),
        all[..3]
    );
    let created = s.import_rows(j.id, &[Success], 10).await.unwrap();
    assert_eq!(rows_of(&created), [1, 2, 3, 5]);
    assert_eq!(
        rows_of(&s.import_rows(j.id, &[Failed], 10).await.unwrap()),
        [4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_earlier_created_rows_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("aegis.db").display());
    let store = aegis_store::SqliteStore::open(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    earlier_created_rows_are_listed(Arc::new(store), |job, rows| async move {
        for (row, id) in rows {
            sqlx::query(
                "INSERT INTO import_rows (job_id, row, status, user_id, message, created_at) \
                 VALUES (?1, ?2, 'success', ?3, ?4, ?5)",
            )
            .bind(job.hyphenated().to_string())
            .bind(i64::try_from(row).unwrap())
            .bind(id.hyphenated().to_string())
            .bind(format!("row {row}: created"))
            .bind(t(7).timestamp_micros())
            .execute(&pool)
            .await
            .unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_earlier_created_rows_are_listed() {
    crate::with_postgres_schema(|store, options| async move {
        let pool = sqlx::PgPool::connect_with(options).await.unwrap();
        earlier_created_rows_are_listed(Arc::new(store), |job, rows| async move {
            for (row, id) in rows {
                sqlx::query(
                    "INSERT INTO import_rows \
                     (job_id, row, status, user_id, message, created_at) \
                     VALUES ($1, $2, 'success', $3, $4, $5)",
                )
                .bind(job)
                .bind(i64::try_from(row).unwrap())
                .bind(id)
                .bind(format!("row {row}: created"))
                .bind(t(7))
                .execute(&pool)
                .await
                .unwrap();
            }
        })
        .await;
    })
    .await;
}
