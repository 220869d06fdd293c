//! Serving one of the demo's simulators (an exchange's REST API, its depth stream, the alert
//! sink) on a free loopback port: one worker, no signal handling, a one-second shutdown.

use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, Error, HttpServer};

/// Starts the app `factory` builds on `127.0.0.1` at a free port, as a task of the current
/// arbiter; answers the bound address and the handle that stops it.
pub fn on_loopback<F, T, B>(factory: F) -> std::io::Result<(SocketAddr, ServerHandle)>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let server = HttpServer::new(factory)
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("no address bound"))?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((addr, handle))
}
