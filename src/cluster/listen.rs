//! The listener: one connection of its own that `LISTEN`s on
//! [`VERDICTS_CHANNEL`] and wakes the
//! [`ClusterGate`] on every notification. Notifications sent while it was disconnected are
//! lost, so every (re)connection wakes the gate too: it re-reads the whole table.

use std::time::Duration;

use actix::Addr;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::cluster::gate::{ClusterGate, Wake};
use crate::cluster::schema::VERDICTS_CHANNEL;
use crate::cluster::writer::PG_TIMEOUT;

/// Listens for ever (until its runtime stops).
pub async fn run(config: tokio_postgres::Config, gate: Addr<ClusterGate>) {
    loop {
        if let Err(e) = session(&config, &gate).await {
            tracing::debug!(error = %e, "The verdicts listener lost PostgreSQL; reconnecting.");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn session(
    config: &tokio_postgres::Config,
    gate: &Addr<ClusterGate>,
) -> Result<(), tokio_postgres::Error> {
    let Ok(connected) = tokio::time::timeout(PG_TIMEOUT, config.connect(NoTls)).await else {
        return Ok(());
    };
    let (client, mut conn) = connected?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The connection is polled here: it drives the client and yields the notifications.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    });
    let listening = client
        .batch_execute(&format!("LISTEN {VERDICTS_CHANNEL}"))
        .await;
    if let Err(e) = listening {
        driver.abort();
        return Err(e);
    }
    // Anything sent while we were away: read it all again.
    gate.do_send(Wake);
    while rx.recv().await.is_some() {
        gate.do_send(Wake);
    }
    drop(client);
    Ok(())
}
