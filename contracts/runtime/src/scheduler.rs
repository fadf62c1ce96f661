//! The scheduler: one job in flight per request (or dispute), each on its own task, so that a
//! job waiting on its transaction's receipt (or its proof) never holds up another request's
//! move. A chain pass asks for a job per open request; a request whose job is still running is
//! skipped until it finishes, and finished jobs' outcomes are collected on the next pass.

use std::{collections::HashMap, future::Future, sync::Mutex, time::Duration};

use tokio::task::JoinHandle;

use crate::Result;

/// The jobs in flight, keyed by request id.
#[derive(Debug, Default)]
pub struct Jobs {
    running: Mutex<HashMap<u64, JoinHandle<Result<()>>>>,
}

/// What became of a finished job.
#[derive(Debug)]
pub enum Outcome {
    /// It did its work.
    Done,
    /// It failed; the next pass may start it again.
    Failed(crate::Error),
    /// It panicked (a bug: logged loudly; the request is tried again on the next pass).
    Panicked(String),
}

impl Jobs {
    /// No jobs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `job` for `id` unless one is running for it; `true` when started.
    pub fn start<F>(&self, id: u64, job: F) -> bool
    where
        F: Future<Output = Result<()>> + Send + 'static,
    {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.get(&id).is_some_and(|h| !h.is_finished()) {
            return false;
        }
        running.insert(id, tokio::spawn(job));
        true
    }

    /// Whether a job for `id` is running.
    pub fn is_running(&self, id: u64) -> bool {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).get(&id).is_some_and(|h| !h.is_finished())
    }

    /// Jobs started and not yet collected.
    pub fn len(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no job is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the outcomes of the jobs that have finished.
    pub async fn collect(&self) -> Vec<(u64, Outcome)> {
        let finished: Vec<(u64, JoinHandle<Result<()>>)> = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            let ids: Vec<u64> = running.iter().filter(|(_, h)| h.is_finished()).map(|(id, _)| *id).collect();
            ids.into_iter().filter_map(|id| running.remove(&id).map(|h| (id, h))).collect()
        };
        let mut out = Vec::with_capacity(finished.len());
        for (id, handle) in finished {
            let outcome = match handle.await {
                Ok(Ok(())) => Outcome::Done,
                Ok(Err(e)) => Outcome::Failed(e),
                Err(e) => Outcome::Panicked(e.to_string()),
            };
            out.push((id, outcome));
        }
        out
    }

    /// Waits up to `grace` for the running jobs, then aborts the rest (a job only acts on what
    /// the chain says, so an aborted one is redone by the next process).
    pub async fn shutdown(&self, grace: Duration) {
        let handles: Vec<JoinHandle<Result<()>>> =
            self.running.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, h)| h).collect();
        let until = tokio::time::Instant::now() + grace;
        for mut handle in handles {
            if tokio::time::timeout_at(until, &mut handle).await.is_err() {
                handle.abort();
            }
        }
    }
}

/// Runs `pass` until `shutdown` fires: after each, the pause of [`NewHeads::pause`] (the poll
/// interval, cut short by a new block; doubled per consecutive failure, capped at 30 s). A failed
/// pass goes to `failed` with the count of failures in a row; the loop goes on. Then `jobs` get a
/// few seconds to finish.
pub async fn run_passes<F, Fut>(
    heads: &crate::NewHeads,
    poll: Duration,
    jobs: &Jobs,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut pass: F,
    mut failed: impl FnMut(&crate::Error, u32),
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut failures = 0u32;
    loop {
        match pass().await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures = failures.saturating_add(1);
                failed(&e, failures);
            }
        }
        if !heads.pause(poll, failures, &mut shutdown).await {
            jobs.shutdown(Duration::from_secs(5)).await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            atomic::{AtomicU32, Ordering},
            Arc,
        },
        time::Duration,
    };

    use super::{Jobs, Outcome};

    #[tokio::test]
    async fn one_job_per_request_and_a_slow_one_holds_up_no_other() {
        let jobs = Jobs::new();
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        // Request 1 waits (a stuck receipt); request 2 must run regardless.
        assert!(jobs.start(1, async move {
            let _ = held.await;
            Ok(())
        }));
        assert!(!jobs.start(1, async { Ok(()) }), "a second job for a request in flight is refused");
        let ran = Arc::new(AtomicU32::new(0));
        let r = ran.clone();
        assert!(jobs.start(2, async move {
            r.fetch_add(1, Ordering::SeqCst);
            Err(crate::Error::Rpc("node down".into()))
        }));
        tokio::time::timeout(Duration::from_secs(5), async {
            while !jobs
                .collect()
                .await
                .iter()
                .any(|(id, o)| *id == 2 && matches!(o, Outcome::Failed(e) if e.is_retryable()))
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("request 2's job finished while request 1's was stuck");
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert!(jobs.is_running(1));
        assert!(jobs.start(2, async { Ok(()) }), "a finished request takes a new job");
        release.send(()).unwrap();
        jobs.shutdown(Duration::from_secs(5)).await;
        assert!(jobs.is_empty());
    }

    #[tokio::test]
    async fn a_panicking_job_is_collected_not_propagated() {
        let jobs = Jobs::new();
        jobs.start(7, async { panic!("a bug") });
        let outcomes = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let o = jobs.collect().await;
                if !o.is_empty() {
                    return o;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        assert!(matches!(&outcomes[..], [(7, Outcome::Panicked(_))]));
    }
}
