//! # photo-ledger-projections
//!
//! Every screen of photo-ledger is a projection of the capture log. The projector reads that log
//! in its one global order (through `photo_ledger_store::log`), folds it into per-capture
//! documents (kept in memory, folded again from the log when missing), rewrites each
//! projection's query rows from them ([`projection`]), and advances a checkpoint in the same
//! transaction ([`projector`]). A crash anywhere leaves either the old rows and the old
//! checkpoint or the new rows and the new checkpoint, so nothing is lost and nothing is applied
//! twice.
//!
//! The views: [`capture_status`], [`review_queue`], [`courier_orders`], [`photo_history`],
//! [`refunds`], [`same_photos`], [`collection_progress`].

pub mod capture_doc;
pub mod capture_status;
pub mod collection_progress;
pub mod courier_orders;
pub mod error;
pub mod person_key;
pub mod photo_history;
pub mod projection;
pub mod projector;
pub mod refunds;
pub mod review_queue;
pub mod same_photos;

pub use error::ProjectionError;
pub use projection::{Documents, Folder, Projection};
pub use projector::{Projector, ProjectorConfig};

use std::sync::Arc;

/// Every projection the service maintains, by name, sharing one set of capture documents.
pub fn all_projections(person_key: person_key::PersonKeyer) -> Vec<Arc<dyn projection::Fold>> {
    let docs = Arc::new(Documents::default());
    vec![
        Arc::new(Folder::new(
            capture_status::CaptureStatusProjection,
            docs.clone(),
        )),
        Arc::new(Folder::new(
            review_queue::ReviewQueueProjection,
            docs.clone(),
        )),
        Arc::new(Folder::new(
            courier_orders::CourierOrdersProjection,
            docs.clone(),
        )),
        Arc::new(Folder::new(
            photo_history::PhotoHistoryProjection::new(person_key.clone()),
            docs.clone(),
        )),
        Arc::new(Folder::new(
            same_photos::SamePhotoIndexProjection::new(person_key),
            docs.clone(),
        )),
        Arc::new(Folder::new(refunds::RefundsProjection, docs.clone())),
        Arc::new(Folder::new(
            collection_progress::CollectionProgressProjection,
            docs,
        )),
    ]
}
