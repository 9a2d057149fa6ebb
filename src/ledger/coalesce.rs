//! Requests that wait at the same moment are served together, as one statement for many.
//!
//! Requests queue on a channel. A task takes what is queued (as the [`Server`] chooses) and hands
//! it to the server as one batch, with a few batches in flight at once, so the database stays
//! busy while the next batch gathers. Under light load a batch is a single request, served one
//! channel hop later than it would be directly; under load, many requests share one round trip.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

/// What serves batches of requests.
pub trait Server: Send + Sync + Sized + 'static {
    type Request: Send + 'static;
    type Answer: Send + 'static;
    /// Batches being served at once. One would serialise every request behind one round trip;
    /// a few keep the database busy while the next batch gathers.
    const IN_FLIGHT: usize;

    /// The next batch from the waiting requests, oldest first; the rest keep their place.
    fn take(waiting: &mut VecDeque<Waiting<Self>>) -> Vec<Waiting<Self>>;

    /// Serves `batch`, answering every request in it.
    fn serve(self: Arc<Self>, batch: Vec<Waiting<Self>>) -> impl Future<Output = ()> + Send;
}

/// A queued request and where its answer goes.
pub struct Waiting<S: Server> {
    pub request: S::Request,
    reply: oneshot::Sender<S::Answer>,
}

impl<S: Server> Waiting<S> {
    pub fn answer(self, answer: S::Answer) {
        // The asker may have gone (its request was cancelled); nobody is left to tell.
        let _ = self.reply.send(answer);
    }
}

/// The first `max` waiting requests.
pub fn first<S: Server>(waiting: &mut VecDeque<Waiting<S>>, max: usize) -> Vec<Waiting<S>> {
    let taken = waiting.len().min(max);
    waiting.drain(..taken).collect()
}

/// Queues requests for the serving task, which runs until every handle is dropped.
pub struct Batches<S: Server> {
    queue: mpsc::UnboundedSender<Waiting<S>>,
}

impl<S: Server> Clone for Batches<S> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<S: Server> Batches<S> {
    /// Starts the serving task; must be called inside a Tokio runtime.
    pub fn start(server: S) -> Self {
        let (queue, incoming) = mpsc::unbounded_channel();
        tokio::spawn(serve_batches(Arc::new(server), incoming));
        Self { queue }
    }

    /// Queues `request` with whatever else is waiting; its answer, or `None` when the serving
    /// task is gone.
    pub async fn ask(&self, request: S::Request) -> Option<S::Answer> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Waiting { request, reply }).ok()?;
        answer.await.ok()
    }
}

async fn serve_batches<S: Server>(
    server: Arc<S>,
    mut incoming: mpsc::UnboundedReceiver<Waiting<S>>,
) {
    let in_flight = Arc::new(Semaphore::new(S::IN_FLIGHT));
    let mut waiting: VecDeque<Waiting<S>> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match incoming.recv().await {
                Some(request) => waiting.push_back(request),
                None => return,
            }
        }
        let permit = in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        // Everything that queued while the previous batches were served joins this one.
        while let Ok(request) = incoming.try_recv() {
            waiting.push_back(request);
        }
        let batch = S::take(&mut waiting);
        let server = server.clone();
        tokio::spawn(async move {
            server.serve(batch).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers each request with its batch's size, after a pause that lets requests gather.
    struct Sizes;

    impl Server for Sizes {
        type Request = u32;
        type Answer = usize;
        const IN_FLIGHT: usize = 1;

        fn take(waiting: &mut VecDeque<Waiting<Self>>) -> Vec<Waiting<Self>> {
            first(waiting, 4)
        }

        async fn serve(self: Arc<Self>, batch: Vec<Waiting<Self>>) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let size = batch.len();
            for waiting in batch {
                waiting.answer(size);
            }
        }
    }

    #[tokio::test]
    async fn requests_waiting_together_are_served_together_up_to_the_batch_size() {
        let batches = Batches::start(Sizes);
        let asks: Vec<_> = (0..9)
            .map(|n| {
                let batches = batches.clone();
                tokio::spawn(async move { batches.ask(n).await })
            })
            .collect();
        let mut sizes = Vec::new();
        for ask in asks {
            sizes.push(ask.await.unwrap().expect("answered"));
        }
        sizes.sort();
        // The first request is served alone while the other eight gather: then 4 and 4.
        assert_eq!(sizes, [1, 4, 4, 4, 4, 4, 4, 4, 4]);
    }
}
