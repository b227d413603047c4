//! The floor for a token check: the same HTTP stack as aegis (axum on hyper,
//! tokio's multi-threaded runtime with one worker per core) answering a constant.

use axum::routing::get;
use axum::Router;

use crate::args::Args;
use crate::AnyResult;

pub fn main(args: &Args) -> AnyResult<()> {
    let listen = args.str("listen").unwrap_or("127.0.0.1:18090").to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new()
            .route("/", get(|| async { "Hello, world!" }))
            .route("/readyz", get(|| async { "ready" }));
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}
