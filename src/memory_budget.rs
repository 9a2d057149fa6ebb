//! Memory for decoding pictures, shared by every route that decodes one: standardising an
//! upload, making a preview, reading a collection code from a picture. Each asks for what its
//! picture will take (read from the header, before any pixel is decoded) and waits until that
//! much of the budget is free, so whatever arrives at once, on whichever routes, the pictures
//! being decoded never hold more than the budget between them. A picture that needs more than
//! the whole budget (the input limits refuse anything near that) waits to have it all.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const MIB: u64 = 1024 * 1024;

pub struct MemoryBudget {
    mib: Arc<Semaphore>,
    total_mib: u32,
}

/// Part of the budget, given back when dropped.
pub struct Spent(#[allow(dead_code)] OwnedSemaphorePermit);

impl MemoryBudget {
    pub fn new(total_mib: u32) -> Self {
        let total_mib = total_mib.max(1);
        Self {
            mib: Arc::new(Semaphore::new(total_mib as usize)),
            total_mib,
        }
    }

    /// Waits until `bytes` of the budget are free and holds them.
    pub async fn spend(&self, bytes: u64) -> Spent {
        let mib = bytes.div_ceil(MIB).clamp(1, u64::from(self.total_mib)) as u32;
        Spent(
            self.mib
                .clone()
                .acquire_many_owned(mib)
                .await
                .expect("the budget's semaphore is never closed"),
        )
    }

    /// What is free now, in MiB.
    pub fn free_mib(&self) -> usize {
        self.mib.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_is_spent_waits_for_room_and_comes_back_when_dropped() {
        let budget = Arc::new(MemoryBudget::new(100));
        let first = budget.spend(60 * MIB).await;
        assert_eq!(budget.free_mib(), 40);
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.spend(50 * MIB).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "50 MiB do not fit in the 40 left");
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(budget.free_mib(), 50);
        drop(second);
        // More than the whole budget takes all of it, and still gets it.
        let all = budget.spend(10_000 * MIB).await;
        assert_eq!(budget.free_mib(), 0);
        drop(all);
        assert_eq!(budget.free_mib(), 100);
    }
}
