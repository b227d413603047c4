//! Failed-login counters: windows and locks.

use std::sync::Arc;

use aegis_core::throttle::ThrottleState;
use aegis_core::Store;

use crate::fixtures::t;

fn state(failures: u32, locked_until: Option<i64>) -> ThrottleState {
    ThrottleState {
        failures,
        locked_until: locked_until.map(t),
    }
}

pub async fn throttle_counts_and_restarts(store: Arc<dyn Store>) {
    let s = &*store;
    let key = "acct:sam";
    assert_eq!(s.find_throttle(key).await.unwrap(), None);
    // A 60 s window: failures at 0, 10, 50 all count.
    for (n, at) in [(1, 0), (2, 10), (3, 50)] {
        let got = s.record_failure(key, t(at), t(at - 60)).await.unwrap();
        assert_eq!(got, state(n, None));
    }
    assert_eq!(s.find_throttle(key).await.unwrap(), Some(state(3, None)));
    // At 61 the first failure (at 0) is out of the window: count again from 1.
    assert_eq!(
        s.record_failure(key, t(61), t(1)).await.unwrap(),
        state(1, None)
    );
    assert_eq!(
        s.record_failure(key, t(70), t(10)).await.unwrap(),
        state(2, None)
    );
    // Keys are independent.
    assert_eq!(
        s.record_failure("ip:192.0.2.9", t(70), t(10))
            .await
            .unwrap(),
        state(1, None)
    );

    s.clear_throttle(key).await.unwrap();
    assert_eq!(s.find_throttle(key).await.unwrap(), None);
    s.clear_throttle(key).await.unwrap();
    assert_eq!(
        s.record_failure(key, t(80), t(20)).await.unwrap(),
        state(1, None)
    );
}

pub async fn throttle_lock(store: Arc<dyn Store>) {
    let s = &*store;
    let key = "acct:tina";
    for at in 0..3 {
        s.record_failure(key, t(at), t(at - 60)).await.unwrap();
    }
    s.lock_throttle(key, t(300)).await.unwrap();
    assert_eq!(
        s.find_throttle(key).await.unwrap(),
        Some(state(3, Some(300)))
    );
    // A failure under the lock counts and keeps the lock, even past the window.
    assert_eq!(
        s.record_failure(key, t(200), t(140)).await.unwrap(),
        state(4, Some(300))
    );
    // Once the lock has ended the count starts again and the lock is gone.
    assert_eq!(
        s.record_failure(key, t(300), t(240)).await.unwrap(),
        state(1, None)
    );
    assert_eq!(
        s.record_failure(key, t(301), t(241)).await.unwrap(),
        state(2, None)
    );

    // A key can be locked without any failure counted.
    let fresh = "ip:198.51.100.7";
    s.lock_throttle(fresh, t(500)).await.unwrap();
    assert_eq!(
        s.find_throttle(fresh).await.unwrap(),
        Some(state(0, Some(500)))
    );
    assert_eq!(
        s.record_failure(fresh, t(400), t(340)).await.unwrap(),
        state(1, Some(500))
    );
    assert_eq!(
        s.record_failure(fresh, t(501), t(441)).await.unwrap(),
        state(1, None)
    );
    // Locking again moves the end.
    s.lock_throttle(fresh, t(900)).await.unwrap();
    assert_eq!(
        s.find_throttle(fresh).await.unwrap(),
        Some(state(1, Some(900)))
    );
}
