//! New blocks by subscription: `eth_subscribe("newHeads")` over a WebSocket endpoint wakes the
//! chain loop as soon as a block arrives, instead of at the next poll. Without an endpoint, or
//! while it is down, the loop polls as before; the subscription reconnects with a growing pause.

use std::{sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// Wakes its waiters on every new block the node announces.
#[derive(Clone, Debug, Default)]
pub struct NewHeads {
    notify: Arc<Notify>,
}

impl NewHeads {
    /// A waker that never fires (polling only).
    pub fn none() -> Self {
        Self::default()
    }

    /// Subscribes to `url` (ws://…) in a background task; the task lives as long as the runtime.
    pub fn subscribe(url: String) -> Self {
        let heads = Self::default();
        let notify = heads.notify.clone();
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(500);
            loop {
                match follow(&url, &notify).await {
                    Ok(()) => tracing::warn!(url, "new-heads subscription closed by the node; reconnecting"),
                    Err(e) => tracing::warn!(url, "new-heads subscription failed: {e}; polling meanwhile"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        });
        heads
    }

    /// Resolves at the next new block (never, without a subscription).
    pub async fn next(&self) {
        self.notify.notified().await;
    }

    /// The pause between two passes of a chain loop: the poll interval, doubled per consecutive
    /// failure (capped at 30 s), cut short by a new block unless the last pass failed. Returns
    /// false once `shutdown` fires.
    pub async fn pause(
        &self,
        poll: Duration,
        failures: u32,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        let backoff = poll * 2u32.saturating_pow(failures.min(5));
        tokio::select! {
            _ = tokio::time::sleep(backoff.min(Duration::from_secs(30))) => true,
            _ = self.next(), if failures == 0 => true,
            _ = shutdown.changed() => false,
        }
    }
}

/// One connection: subscribe, then wake the loop on each notification until the stream ends.
async fn follow(url: &str, notify: &Notify) -> Result<(), String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| e.to_string())?;
    let subscribe = r#"{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}"#;
    ws.send(Message::text(subscribe)).await.map_err(|e| e.to_string())?;
    let mut subscribed = false;
    while let Some(message) = ws.next().await {
        let text = match message.map_err(|e| e.to_string())? {
            Message::Text(t) => t,
            Message::Ping(p) => {
                ws.send(Message::Pong(p)).await.map_err(|e| e.to_string())?;
                continue;
            }
            Message::Close(_) => return Ok(()),
            _ => continue,
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON-RPC: {e}"))?;
        if value.get("id") == Some(&Value::from(1)) {
            if let Some(err) = value.get("error") {
                return Err(format!("the node refused eth_subscribe: {err}"));
            }
            subscribed = true;
            tracing::info!(url, "subscribed to new heads");
        } else if subscribed && value.get("method").and_then(Value::as_str) == Some("eth_subscription") {
            notify.notify_one();
        }
    }
    Ok(())
}
