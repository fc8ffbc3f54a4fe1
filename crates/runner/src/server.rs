//! The HTTP listener: accepts connections, serves HTTP/1.1 with keep-alive and
//! hands every request to [`App::dispatch`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::app::App;

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("spin-local: accept failed: {e}");
                    continue;
                }
            },
        };
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs stall small
        // keep-alive responses by ~40 ms.
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("spin-local: set_nodelay failed: {e}");
        }
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.dispatch(request, client).await.0) }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                if !e.is_incomplete_message() {
                    eprintln!("spin-local: connection from {client}: {e}");
                }
            }
        });
    }
}
