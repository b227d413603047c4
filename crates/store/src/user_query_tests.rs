//! The SQL [`UserSql`] writes: every value bound, NULL ranges in listing order.

#![allow(clippy::unwrap_used)]

use super::*;

fn sql(dialect: Dialect, query: &UserQuery) -> UserSql {
    UserSql::new(dialect, query).unwrap()
}

fn invalid_field(dialect: Dialect, query: &UserQuery) -> &'static str {
    match UserSql::new(dialect, query) {
        Err(Error::InvalidField { field, .. }) => field,
        other => panic!("expected InvalidField, got {other:?}"),
    }
}

#[test]
fn conditions_bind_every_value() {
    let q = UserQuery {
        conditions: vec![
            Condition::Eq(UserField::Disabled, Value::Bool(false)),
            Condition::Contains(UserField::Email, vec!["%'_\\".into(), "@x".into()]),
            Condition::In(
                UserField::Email,
                vec![Value::Text("a@x".into()), Value::Text(String::new())],
            ),
            Condition::Gte(UserField::Username, Value::Text("m".into())),
        ],
        size: 20,
        ..Default::default()
    };
    let s = sql(Dialect::Postgres, &q);
    let filter = "active = $1 AND strpos(COALESCE(email, ''), $2) > 0 \
                  AND strpos(COALESCE(email, ''), $3) > 0 \
                  AND (email IN ($4) OR email IS NULL) AND username COLLATE \"C\" >= $5";
    assert_eq!(
        s.count.sql,
        format!("SELECT COUNT(*) FROM users WHERE {filter}")
    );
    assert_eq!(
        s.count.args,
        [
            Arg::Bool(true),
            Arg::Text("%'_\\".into()),
            Arg::Text("@x".into()),
            Arg::Text("a@x".into()),
            Arg::Text("m".into()),
        ]
    );
    assert_eq!(
        s.segments[0].sql,
        format!("SELECT * FROM users WHERE {filter} ORDER BY created_at ASC, id ASC LIMIT $6")
    );
    assert_eq!(s.segments.len(), 1, "created_at is never NULL");

    let s = sql(Dialect::Sqlite, &q);
    assert!(s.count.sql.contains("instr(COALESCE(email, ''), ?2) > 0"));
    assert!(s.count.sql.contains("username >= ?5"));
}

#[test]
fn nullable_keys_are_read_as_two_ranges() {
    let id = Uuid::nil();
    let mut q = UserQuery {
        order_by: UserOrder::Email,
        size: 10,
        ..Default::default()
    };
    let s = sql(Dialect::Postgres, &q);
    let key = r#"email COLLATE "C""#;
    assert_eq!(
        s.segments
            .iter()
            .map(|s| s.sql.as_str())
            .collect::<Vec<_>>(),
        [
            format!(
                "SELECT * FROM users WHERE email IS NOT NULL ORDER BY {key} ASC, id ASC LIMIT $1"
            ),
            format!("SELECT * FROM users WHERE email IS NULL ORDER BY {key} ASC, id ASC LIMIT $1"),
        ]
    );
    assert_eq!(s.count.sql, "SELECT COUNT(*) FROM users");

    // After a key: the rest of the keys, then the NULLs.
    q.after = Some(After {
        key: Some(Value::Text("b@x".into())),
        id,
    });
    let s = sql(Dialect::Sqlite, &q);
    assert_eq!(
        s.segments[0].sql,
        "SELECT * FROM users WHERE (email, id) > (?1, ?2) ORDER BY email ASC, id ASC LIMIT ?3"
    );
    assert_eq!(s.segments[0].args, [Arg::Text("b@x".into()), Arg::Id(id)]);
    assert_eq!(
        s.segments[1].sql,
        "SELECT * FROM users WHERE likelihood(email IS NULL, 0.9) ORDER BY email ASC, id ASC LIMIT ?1"
    );

    // After a NULL key (an email of "" is none): only NULLs are left.
    for key in [None, Some(Value::Text(String::new()))] {
        q.after = Some(After { key, id });
        let s = sql(Dialect::Sqlite, &q);
        assert_eq!(s.segments.len(), 1);
        assert_eq!(s.segments[0].sql, "SELECT * FROM users WHERE likelihood(email IS NULL, 0.9) AND id > ?1 ORDER BY email ASC, id ASC LIMIT ?2");
    }

    // Descending is ascending reversed: NULLs first, then the keys.
    q.order = Order::Desc;
    let s = sql(Dialect::Sqlite, &q);
    assert_eq!(
        s.segments[0].sql,
        "SELECT * FROM users WHERE likelihood(email IS NULL, 0.9) AND id < ?1 ORDER BY email DESC, id DESC LIMIT ?2"
    );
    assert_eq!(
        s.segments[1].sql,
        "SELECT * FROM users WHERE email IS NOT NULL ORDER BY email DESC, id DESC LIMIT ?1"
    );
    q.after = Some(After {
        key: Some(Value::Text("b@x".into())),
        id,
    });
    let s = sql(Dialect::Sqlite, &q);
    assert_eq!(s.segments.len(), 1);
    assert_eq!(
        s.segments[0].sql,
        "SELECT * FROM users WHERE (email, id) < (?1, ?2) ORDER BY email DESC, id DESC LIMIT ?3"
    );
}

#[test]
fn id_order_has_one_range() {
    let id = Uuid::nil();
    let q = UserQuery {
        order_by: UserOrder::Id,
        order: Order::Desc,
        conditions: vec![Condition::Never],
        after: Some(After { key: None, id }),
        size: 5,
        skip_total: false,
    };
    let s = sql(Dialect::Postgres, &q);
    assert_eq!(
        s.segments[0].sql,
        "SELECT * FROM users WHERE 0 = 1 AND id < $1 ORDER BY id DESC LIMIT $2"
    );
    assert_eq!(s.count.sql, "SELECT COUNT(*) FROM users WHERE 0 = 1");
}

#[test]
fn values_must_fit_their_fields() {
    let bad = [
        Condition::Eq(UserField::LoginCount, Value::Text("1".into())),
        Condition::Eq(UserField::Email, Value::Int(1)),
        Condition::In(UserField::Verified, vec![Value::Bool(true), Value::Int(1)]),
        Condition::Gt(UserField::Disabled, Value::Bool(true)),
        Condition::Lt(UserField::CreatedAt, Value::Int(0)),
        Condition::Contains(UserField::LoginCount, vec!["1".into()]),
        Condition::Eq(UserField::Id, Value::Text("x".into())),
    ];
    for cond in bad {
        let q = UserQuery {
            conditions: vec![cond.clone()],
            size: 1,
            ..Default::default()
        };
        assert_ne!(invalid_field(Dialect::Sqlite, &q), "last", "{cond:?}");
    }
    let q = UserQuery {
        order_by: UserOrder::LoginCount,
        after: Some(After {
            key: Some(Value::Text("3".into())),
            id: Uuid::nil(),
        }),
        size: 1,
        ..Default::default()
    };
    assert_eq!(invalid_field(Dialect::Postgres, &q), "last");
}
