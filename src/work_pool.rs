//! A few threads of their own for CPU- and memory-heavy work that anyone can ask for: password
//! hashes, code pictures, standardisations. Work waits in the pool's queue for a free thread, so
//! a flood of requests cannot run more of it at once than the pool has threads, and cannot hold
//! more memory than they do. Dedicated threads also keep that memory bounded after the flood:
//! each thread's allocator keeps what one piece of work freed for the next, where work spread
//! over the runtime's many blocking threads would leave some behind in each of their allocator
//! arenas.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub struct WorkPool {
    jobs: Sender<Job>,
}

/// The work did not finish: it panicked, or the pool's threads are gone.
#[derive(Debug, thiserror::Error)]
#[error("the {0} work did not finish")]
pub struct PoolGone(&'static str);

impl WorkPool {
    /// Starts `threads` threads named `name-N`.
    pub fn new(name: &'static str, threads: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || loop {
                    let next = queue.lock().map(|queue| queue.recv());
                    match next {
                        // A job that panics loses its answer, not the pool its thread.
                        Ok(Ok(job)) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        _ => return,
                    }
                })
                .expect("a work-pool thread starts");
        }
        Self { jobs }
    }

    /// Runs `work` on one of the pool's threads once one is free, in the caller's span.
    pub async fn run<T: Send + 'static>(
        &self,
        name: &'static str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolGone> {
        let (done, result) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(span.in_scope(work));
            }))
            .map_err(|_| PoolGone(name))?;
        result.await.map_err(|_| PoolGone(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn no_more_work_runs_at_once_than_the_pool_has_threads() {
        let pool = Arc::new(WorkPool::new("test-pool", 2));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut all = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            all.spawn(async move {
                pool.run("test-pool", move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i * 2
                })
                .await
                .unwrap()
            });
        }
        let mut results = Vec::new();
        while let Some(done) = all.join_next().await {
            results.push(done.unwrap());
        }
        results.sort();
        assert_eq!(results, (0..16).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn work_that_panics_fails_alone_and_the_pool_keeps_its_threads() {
        let pool = WorkPool::new("test-pool", 1);
        for _ in 0..3 {
            let failed = pool.run("test-pool", || -> u32 { panic!("a bug") }).await;
            assert!(failed.is_err());
        }
        assert_eq!(pool.run("test-pool", || 7).await.unwrap(), 7);
    }
}
