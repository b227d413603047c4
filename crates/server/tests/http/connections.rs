//! Connections over real TCP: timeouts for silent, dawdling and idle clients,
//! the connection limits (in all and per address), and client addresses seen
//! through a dual-stack listener. Connection behaviour does not depend on the
//! store: these run on SQLite, except the one that records addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use aegis_core::Role;
use aegis_server::Config;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{run_with, Backend, Srv, PASSWORD};

/// Far longer than any timeout set here: a connection still open by then is
/// one the server keeps.
const BOUND: Duration = Duration::from_secs(30);

fn addr(srv: &Srv) -> SocketAddr {
    srv.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection from `local` (any address of 127.0.0.0/8) to the server.
async fn connect_from(srv: &Srv, local: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(local.parse().unwrap(), 0))
        .unwrap();
    socket.connect(addr(srv)).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset), failing if it
/// is still open after [`BOUND`]; returns what was read.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open; read so far: {:?}",
        String::from_utf8_lossy(&got)
    );
    String::from_utf8_lossy(&got).into_owned()
}

/// Whether the server answers `GET /healthz` on a fresh connection from
/// `local`, trying a few times while closed connections are counted out.
async fn healthz_from(srv: &Srv, local: &str) -> bool {
    let client = reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..50 {
        if let Ok(res) = client.get(srv.url("/healthz")).send().await {
            if res.status() == 200 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn sqlite_with<Fut>(
    tweak: impl FnOnce(&mut Config),
    case: impl FnOnce(Srv) -> Fut,
) -> impl std::future::Future<Output = ()>
where
    Fut: std::future::Future<Output = ()>,
{
    run_with(Backend::Sqlite, tweak, case)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_or_slow_client_is_closed_after_the_header_timeout() {
    sqlite_with(
        |c| c.http.header_read_timeout_s = 1,
        |srv: Srv| async move {
            // Opens and sends nothing.
            let mut silent = connect_from(&srv, "127.0.0.1").await;
            assert_eq!(read_until_closed(&mut silent).await, "");
            // Begins a request and never ends its headers.
            let mut slow = connect_from(&srv, "127.0.0.1").await;
            slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: aegis\r\n")
                .await
                .unwrap();
            assert_eq!(read_until_closed(&mut slow).await, "");
            assert!(healthz_from(&srv, "127.0.0.1").await);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    sqlite_with(
        |c| c.http.idle_timeout_s = 1,
        |srv: Srv| async move {
            let mut conn = connect_from(&srv, "127.0.0.1").await;
            conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: aegis\r\n\r\n")
                .await
                .unwrap();
            // The answer comes, the connection stays open for another
            // request, and is closed once it has idled for a second.
            let got = read_until_closed(&mut conn).await;
            assert!(got.starts_with("HTTP/1.1 200"), "{got}");
            assert!(!got.contains("connection: close"), "{got}");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_gets_a_408() {
    sqlite_with(
        |c| c.http.body_read_timeout_s = 1,
        |srv: Srv| async move {
            let mut conn = connect_from(&srv, "127.0.0.1").await;
            conn.write_all(
                b"POST /api/auth/login HTTP/1.1\r\nHost: aegis\r\n\
                  Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
            )
            .await
            .unwrap();
            let got = read_until_closed(&mut conn).await;
            assert!(got.starts_with("HTTP/1.1 408"), "{got}");
            // In Argon's error shape.
            assert!(got.contains("{\"error\":"), "{got}");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    sqlite_with(
        |c| {
            c.http.max_connections_per_ip = 3;
            c.http.header_read_timeout_s = 600;
        },
        |srv: Srv| async move {
            let mut held = Vec::new();
            for _ in 0..3 {
                held.push(connect_from(&srv, "127.0.0.1").await);
            }
            // Let the server take them all before the one over the limit.
            assert!(healthz_from(&srv, "127.0.0.2").await);
            let mut over = connect_from(&srv, "127.0.0.1").await;
            let got = read_until_closed(&mut over).await;
            assert!(got.is_empty() || got.starts_with("HTTP/1.1 503"), "{got}");
            // Loopback is not exempt, but other addresses are served.
            assert!(healthz_from(&srv, "127.0.0.3").await);
            // A closed connection makes room again.
            held.pop();
            assert!(healthz_from(&srv, "127.0.0.1").await);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_refused() {
    sqlite_with(
        |c| {
            c.http.max_connections = 3;
            c.http.header_read_timeout_s = 600;
        },
        |srv: Srv| async move {
            // Three connections, each served once (so counted) and kept open.
            let mut held = Vec::new();
            for local in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
                let mut conn = connect_from(&srv, local).await;
                conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: aegis\r\n\r\n")
                    .await
                    .unwrap();
                let mut status = [0u8; 12];
                conn.read_exact(&mut status).await.unwrap();
                assert_eq!(&status, b"HTTP/1.1 200");
                held.push(conn);
            }
            let mut over = connect_from(&srv, "127.0.0.4").await;
            let got = read_until_closed(&mut over).await;
            assert!(got.is_empty() || got.starts_with("HTTP/1.1 503"), "{got}");
            held.clear();
            assert!(healthz_from(&srv, "127.0.0.4").await);
        },
    )
    .await;
}

/// A proxy at 127.0.0.1 reaching a `[::]` listener is `::ffff:127.0.0.1`:
/// with `trusted_proxies = ["127.0.0.1"]` it is trusted all the same, and each
/// client behind it is throttled and recorded by its own address.
async fn a_dual_stack_proxy_is_trusted(srv: Srv) {
    let Ok(listener) = tokio::net::TcpListener::bind("[::]:0").await else {
        eprintln!("skipping: no IPv6 on this machine");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let app = aegis_server::app(srv.state.clone());
    let config = srv.state.config.clone();
    let server = tokio::spawn(async move {
        aegis_server::serve(listener, app, &config, std::future::pending()).await
    });
    let user = srv.user("dual@example.com", Role::User).await;
    let http = reqwest::Client::new();
    let login = |client: &'static str, password: &'static str| {
        http.post(format!("http://[::ffff:127.0.0.1]:{port}/auth"))
            .header("X-Forwarded-For", client)
            .json(&json!({"username": "dual@example.com", "password": password}))
            .send()
    };
    // One client fails until its address is throttled…
    for _ in 0..3 {
        let res = login("198.51.100.7", "wrong password").await.unwrap();
        assert_eq!(res.status(), 401);
    }
    let res = login("198.51.100.7", PASSWORD).await.unwrap();
    assert_eq!(res.status(), 429, "the client's own address is throttled");
    // …and another client behind the same proxy is not locked out.
    let res = login("198.51.100.8", PASSWORD).await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let user = srv.state.aegis.store().get_user(user.id).await.unwrap();
    assert_eq!(user.last_login_ip.as_deref(), Some("198.51.100.8"));
    server.abort();
}

fn dual_stack(c: &mut Config) {
    c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    c.core.throttle.ip_failures = 3;
}

mod a_dual_stack_proxy_is_trusted {
    use crate::harness::{run_with, Backend};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_with(
            Backend::Sqlite,
            super::dual_stack,
            super::a_dual_stack_proxy_is_trusted,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_with(
            Backend::Postgres,
            super::dual_stack,
            super::a_dual_stack_proxy_is_trusted,
        )
        .await
    }
}

/// An admin's API token, for the Pangea upload.
async fn admin_token(srv: &Srv) -> String {
    let user = srv.user("uploader@example.com", Role::Admin).await;
    srv.state
        .aegis
        .create_api_token(
            &aegis_core::Actor::System,
            user.id,
            aegis_core::api_token::CreateApiTokenRequest {
                provider: "local".into(),
                role: Role::Admin,
                expiry_s: 86_400,
                name: None,
            },
        )
        .await
        .unwrap()
        .secret
}

/// Starts an import upload over raw TCP and sends its body's first `sent`
/// pieces (of 16), one every 200 ms.
async fn slow_upload(srv: &Srv, token: &str, sent: usize) -> TcpStream {
    let mut csv = String::from("email\n");
    for i in 0..400 {
        csv.push_str(&format!("slow{i}@example.com\n"));
    }
    let body = format!(
        "--b\r\nContent-Disposition: form-data; name=\"request\"\r\n\
         Content-Type: application/json\r\n\r\n\
         {{\"transfer_method\":\"multipart\",\"file_type\":\"csv\"}}\r\n\
         --b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"u.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--b--\r\n"
    );
    let mut conn = connect_from(srv, "127.0.0.1").await;
    let head = format!(
        "POST /v2/users/sources/upload HTTP/1.1\r\nHost: aegis\r\n\
         Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=b\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let piece = body.len().div_ceil(16);
    for chunk in body.as_bytes().chunks(piece).take(sent) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        conn.write_all(chunk).await.unwrap();
    }
    conn
}

/// An upload that keeps moving is never cut, however long it takes (here
/// longer than the body timeout); one that stalls is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_may_be_slow_but_not_stall() {
    sqlite_with(
        |c| c.http.body_read_timeout_s = 2,
        |srv: Srv| async move {
            let token = admin_token(&srv).await;
            let started = std::time::Instant::now();
            let mut moving = slow_upload(&srv, &token, 16).await;
            assert!(started.elapsed() > Duration::from_secs(2));
            let got = read_until_closed(&mut moving).await;
            assert!(got.starts_with("HTTP/1.1 200"), "{got}");
            let mut stalled = slow_upload(&srv, &token, 4).await;
            let got = read_until_closed(&mut stalled).await;
            assert!(!got.starts_with("HTTP/1.1 200"), "{got}");
        },
    )
    .await;
}
