//! The demo's alert sink: a webhook receiver on loopback that the monitor's `webhook` channel
//! posts to, standing in for the desk's chat or pager. Every alert it receives (the public
//! webhook payload, see [`Alert`]) is handed to the story through a channel, in arrival order.
//!
//! It owns its server and the sending end of that channel; it never prints.

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, web};
use tokio::sync::mpsc;

use crate::messages::Alert;

/// The largest alert body accepted; a webhook payload is well under a kilobyte.
const MAX_BODY: usize = 64 * 1024;

/// The path the webhook channel posts to.
pub const PATH: &str = "/alerts";

/// A running sink.
pub struct AlertSink {
    url: String,
    handle: ServerHandle,
}

impl AlertSink {
    /// Starts the sink on `127.0.0.1:0` inside the running actix System; alerts arrive on the
    /// returned receiver.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub fn start() -> std::io::Result<(Self, mpsc::UnboundedReceiver<Alert>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let tx = web::Data::new(tx);
        let (addr, handle) = super::serve::on_loopback(move || {
            App::new()
                .app_data(tx.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route(PATH, web::post().to(receive))
        })?;
        let url = format!("http://{addr}{PATH}");
        Ok((Self { url, handle }, rx))
    }

    /// Where the webhook channel posts (`http://127.0.0.1:<port>/alerts`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops serving and closes its port.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

async fn receive(body: web::Bytes, tx: web::Data<mpsc::UnboundedSender<Alert>>) -> HttpResponse {
    match serde_json::from_slice::<Alert>(&body) {
        Ok(alert) => {
            // The story has ended when nobody listens: the alert is still accepted.
            let _ = tx.send(alert);
            HttpResponse::Ok().finish()
        }
        // Not an alert: a 400 tells the channel not to retry it.
        Err(e) => HttpResponse::BadRequest().body(format!("not an exwatch alert: {e}")),
    }
}
