//! The HTTPS listener: accepts connections on loopback, closes them unanswered while an
//! injected outage lasts, and serves HTTP/1.1 over TLS to the API handlers.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::api;
use crate::auth::Authenticator;
use crate::sim::Sim;

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    sim: Arc<Sim>,
    auth: Arc<Authenticator>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let address: Arc<str> = listener
        .local_addr()
        .map_or_else(|_| "127.0.0.1".into(), |a| a.to_string().into());
    loop {
        let stream = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
        };
        if sim.faults.is_down() {
            // An outage: the client sees its connection closed, as when an API server restarts.
            drop(stream);
            continue;
        }
        let acceptor = acceptor.clone();
        let sim = Arc::clone(&sim);
        let auth = Arc::clone(&auth);
        let address = Arc::clone(&address);
        let mut connection_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Ok(tls_stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(move |request| {
                let sim = Arc::clone(&sim);
                let auth = Arc::clone(&auth);
                let address = Arc::clone(&address);
                async move {
                    Ok::<_, std::convert::Infallible>(
                        api::handle(sim, auth, address, request).await,
                    )
                }
            });
            let connection = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls_stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = connection_shutdown.changed() => connection.as_mut().graceful_shutdown(),
            }
        });
    }
}
