//! Which instance acts. Several instances of one service, with one key, may share one PostgreSQL
//! database: each holds or waits for the service's **lease**, a row in `leases` with a holder, an
//! epoch and an expiry ([`Db::try_lease`](crate::db::Db::try_lease)). The holder runs the chain
//! loop and sends transactions; the others serve the API (reads, and writes that the holder's
//! loop picks up from the database) and stand by. When the holder dies, its lease expires and
//! another instance takes it, with the next epoch, and resumes every request and dispute from the
//! database, as a restarted process would.
//!
//! **Why a lease and not row claims.** One key means one nonce sequence: two instances sending at
//! once would race for nonces whatever rows they claimed. One sender at a time keeps nonces in
//! one process, and the chain loop unchanged.
//!
//! **Timing.** A lease taken at `t` (this instance's clock) is recorded as expiring at `t + ttl`;
//! the holder renews it every `ttl / 4` and counts itself the holder only until
//! `t + ttl - ttl / 4`, so it stops sending a quarter of the TTL before anyone may take over:
//! instances' clocks must agree to within that (NTP). A renewal that fails (the database down)
//! lets the lease run out. The [responder](crate::responder) refuses to send without the lease
//! (the fence), and a new holder reads its nonces from the node again.
//!
//! A SQLite file is one machine's, for one instance: the services take no lease there
//! ([`Leader::solo`]), and a restarted process acts at once.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::{
    db::{now_ms, Db},
    Nonces,
};

/// The lease's state in this process.
#[derive(Debug)]
struct Inner {
    /// The lease's name (the service's).
    name: String,
    /// This instance.
    holder: String,
    /// How long a lease lasts unrenewed.
    ttl: Duration,
    /// Unix milliseconds until which this instance holds it (0: not held).
    held_until_ms: AtomicU64,
    /// The epoch this instance holds (or held last; 0: never).
    epoch: AtomicU64,
    /// Times this instance took the lease from another holder (or a lapsed one).
    takeovers: AtomicU64,
}

/// This instance's view of the service's lease (cheap to clone; shared by the loops, the
/// responder and the API).
#[derive(Clone, Debug)]
pub struct Leader {
    inner: Arc<Inner>,
}

impl Leader {
    /// A lease that is always held: a process that runs alone and checks nothing (tests, tools).
    pub fn solo() -> Self {
        let inner = Inner {
            name: "solo".into(),
            holder: "solo".into(),
            ttl: Duration::MAX,
            held_until_ms: AtomicU64::new(u64::MAX),
            epoch: AtomicU64::new(1),
            takeovers: AtomicU64::new(0),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Tries for lease `name` as `holder` now, then keeps trying (or renewing) every `ttl / 4`
    /// in the background until `shutdown`, when it gives the lease up. `nonces` are forgotten
    /// whenever this instance takes the lease (another instance may have sent meanwhile).
    pub async fn spawn(
        db: Arc<Db>,
        name: &str,
        holder: &str,
        ttl: Duration,
        nonces: Nonces,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> crate::Result<Self> {
        let inner = Inner {
            name: name.to_string(),
            holder: holder.to_string(),
            ttl,
            held_until_ms: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            takeovers: AtomicU64::new(0),
        };
        let leader = Self { inner: Arc::new(inner) };
        leader.renew(&db, &nonces).await?;
        let me = leader.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.inner.ttl / 4);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = me.renew(&db, &nonces).await {
                            tracing::warn!(lease = %me.inner.name, "cannot renew the lease: {e}");
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
            if me.is_held() {
                me.inner.held_until_ms.store(0, Ordering::SeqCst);
                let (db, name, holder) = (db.clone(), me.inner.name.clone(), me.inner.holder.clone());
                match tokio::task::spawn_blocking(move || db.release_lease(&name, &holder)).await {
                    Ok(Ok(())) => tracing::info!(lease = %me.inner.name, "lease given up"),
                    Ok(Err(e)) => tracing::warn!(lease = %me.inner.name, "cannot give the lease up: {e}"),
                    Err(e) => tracing::warn!(lease = %me.inner.name, "cannot give the lease up: {e}"),
                }
            }
        });
        Ok(leader)
    }

    /// One try: take or renew the lease.
    async fn renew(&self, db: &Arc<Db>, nonces: &Nonces) -> crate::Result<()> {
        let inner = &self.inner;
        let t0 = now_ms();
        let (db, name, holder, ttl) = (db.clone(), inner.name.clone(), inner.holder.clone(), inner.ttl);
        let got = tokio::task::spawn_blocking(move || db.try_lease(&name, &holder, t0, ttl))
            .await
            .map_err(|e| crate::Error::Unexpected(format!("the lease task failed: {e}")))??;
        match got {
            Some(epoch) => {
                let before = inner.epoch.load(Ordering::SeqCst);
                if before != epoch {
                    // Taken (not renewed): another instance may have sent since we last did.
                    nonces.forget().await;
                    inner.epoch.store(epoch, Ordering::SeqCst);
                    if epoch > 1 {
                        inner.takeovers.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::info!(lease = %inner.name, instance = %inner.holder, epoch, "this instance holds the lease and acts");
                }
                let margin = inner.ttl.as_millis() as u64 / 4;
                inner.held_until_ms.store(t0 + inner.ttl.as_millis() as u64 - margin, Ordering::SeqCst);
            }
            None => {
                if inner.held_until_ms.swap(0, Ordering::SeqCst) != 0 {
                    tracing::warn!(lease = %inner.name, instance = %inner.holder, "another instance holds the lease: standing by");
                }
            }
        }
        Ok(())
    }

    /// Whether this instance holds the lease now (and may send).
    pub fn is_held(&self) -> bool {
        now_ms() < self.inner.held_until_ms.load(Ordering::SeqCst)
    }

    /// The epoch this instance holds, or held last (0: never).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::SeqCst)
    }

    /// Times this instance took the lease over from another holder.
    pub fn takeovers(&self) -> u64 {
        self.inner.takeovers.load(Ordering::Relaxed)
    }

    /// This instance's name.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// Binds the service's listener at `listen`, then takes part in the lease of the instances
    /// of `service` (`operator`, `watchtower`) signing as `me`, on `db` (on a SQLite file:
    /// [`Leader::solo`]), this instance named by `chain` (`--instance`, or the host and the bound
    /// address), renewed until `shutdown`.
    pub async fn listen_and_start(
        service: &str,
        db: &Arc<Db>,
        me: alloy::primitives::Address,
        chain: &crate::ChainArgs,
        listen: std::net::SocketAddr,
        nonces: &Nonces,
        shutdown: &tokio::sync::watch::Receiver<bool>,
    ) -> crate::Result<(tokio::net::TcpListener, std::net::SocketAddr, Self)> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| crate::Error::refused(format!("cannot listen on {listen}: {e}")))?;
        let local = listener.local_addr().map_err(|e| crate::Error::refused(format!("the listener's address: {e}")))?;
        if db.backend() == crate::db::Backend::Sqlite {
            return Ok((listener, local, Self::solo()));
        }
        let instance = chain.instance_name(local);
        let name = format!("{service}:{me}");
        let leader =
            Self::spawn(db.clone(), &name, &instance, chain.lease_ttl(), nonces.clone(), shutdown.clone()).await?;
        if !leader.is_held() {
            tracing::info!(%instance, "another instance holds the lease: this one serves reads and stands by");
        }
        Ok((listener, local, leader))
    }

    /// The lease's Prometheus gauges and counter, named `{prefix}_lease_…`.
    pub fn render_metrics(&self, out: &mut String, prefix: &str) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP {prefix}_lease_held 1 when this instance holds the service's lease (and acts).\n\
             # TYPE {prefix}_lease_held gauge\n{prefix}_lease_held {}",
            u8::from(self.is_held())
        );
        let _ = writeln!(
            out,
            "# HELP {prefix}_lease_epoch The lease epoch this instance holds or held last.\n\
             # TYPE {prefix}_lease_epoch gauge\n{prefix}_lease_epoch {}",
            self.epoch()
        );
        let _ = writeln!(
            out,
            "# HELP {prefix}_lease_takeovers_total Times this instance took the lease over.\n\
             # TYPE {prefix}_lease_takeovers_total counter\n{prefix}_lease_takeovers_total {}",
            self.takeovers()
        );
    }

    /// The lease as `/healthz` shows it.
    pub fn health(&self) -> serde_json::Value {
        serde_json::json!({ "instance": self.holder(), "held": self.is_held(), "epoch": self.epoch() })
    }
}
