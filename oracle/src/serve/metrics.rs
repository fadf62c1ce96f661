//! Prometheus metrics, rendered as text at `/metrics`.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::store::{RequestStatus, Store};

/// Counters and gauges the service updates as it works.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Proposals sent and mined.
    pub proposals: AtomicU64,
    /// Settlements sent and mined.
    pub settlements: AtomicU64,
    /// Our proposals that were challenged.
    pub disputes_challenged: AtomicU64,
    /// Disputes our proposal won.
    pub disputes_won: AtomicU64,
    /// Disputes our proposal lost.
    pub disputes_lost: AtomicU64,
    /// Transactions that reverted on-chain or in their dry run.
    pub reverts: AtomicU64,
    /// RPC calls that failed.
    pub rpc_errors: AtomicU64,
    /// Blocks between the chain head and the last processed block.
    pub lag_blocks: AtomicU64,
    /// The last processed block.
    pub last_block: AtomicU64,
    /// Requests created through the API.
    pub api_requests: AtomicU64,
    /// Credit claims mined.
    pub claims: AtomicU64,
    /// Proposals that waited for free bond in the last pass.
    pub waiting_for_bond: AtomicU64,
}

fn counter(out: &mut String, name: &str, help: &str, kind: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

impl Metrics {
    /// Adds one to `c`.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, store: &dyn Store, leader: &verdict_runtime::lease::Leader) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP verdict_oracle_requests Requests known to the service, by status.\n# TYPE verdict_oracle_requests gauge"
        );
        let counts = store.counts().unwrap_or_default();
        for status in RequestStatus::ALL {
            let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "verdict_oracle_requests{{status=\"{}\"}} {n}", status.as_str());
        }
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(&mut out, "verdict_oracle_proposals_total", "Proposals mined.", "counter", get(&self.proposals));
        counter(&mut out, "verdict_oracle_settlements_total", "Settlements mined.", "counter", get(&self.settlements));
        counter(
            &mut out,
            "verdict_oracle_disputes_total",
            "Our proposals that were challenged.",
            "counter",
            get(&self.disputes_challenged),
        );
        let _ = writeln!(
            out,
            "# HELP verdict_oracle_dispute_outcomes_total Disputes of our proposals, by outcome.\n# TYPE verdict_oracle_dispute_outcomes_total counter"
        );
        let _ = writeln!(out, "verdict_oracle_dispute_outcomes_total{{outcome=\"won\"}} {}", get(&self.disputes_won));
        let _ = writeln!(out, "verdict_oracle_dispute_outcomes_total{{outcome=\"lost\"}} {}", get(&self.disputes_lost));
        counter(&mut out, "verdict_oracle_reverts_total", "Transactions that reverted.", "counter", get(&self.reverts));
        counter(&mut out, "verdict_oracle_rpc_errors_total", "Failed RPC calls.", "counter", get(&self.rpc_errors));
        counter(
            &mut out,
            "verdict_oracle_lag_blocks",
            "Head minus last processed block.",
            "gauge",
            get(&self.lag_blocks),
        );
        counter(&mut out, "verdict_oracle_last_block", "The last processed block.", "gauge", get(&self.last_block));
        counter(&mut out, "verdict_oracle_claims_total", "Credit claims mined.", "counter", get(&self.claims));
        counter(
            &mut out,
            "verdict_oracle_api_requests_total",
            "Requests created through the API.",
            "counter",
            get(&self.api_requests),
        );
        counter(
            &mut out,
            "verdict_oracle_waiting_for_bond",
            "Proposals that waited for free bond in the last pass.",
            "gauge",
            get(&self.waiting_for_bond),
        );
        leader.render_metrics(&mut out, "verdict_oracle");
        out
    }
}
