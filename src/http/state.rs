//! What every handler shares: the services, built once by [`crate::startup`].

use std::sync::Arc;

use photo_ledger_projections::person_key::PersonKeyer;

use crate::accounts::wechat_login::WechatClient;
use crate::captures::status_reads::StatusReads;
use crate::captures::Captures;
use crate::configuration::ApiSettings;
use crate::delivery::Deliveries;
use crate::eligibility::codes::CodeSigner;
use crate::eligibility::Verifier;
use crate::erasure::Erasure;
use crate::http::token::TokenKeys;
use crate::ledger::Ledger;
use crate::payments::Payments;
use crate::photos::PhotoService;
use crate::printing::Printing;
use crate::telemetry::metrics::Metrics;

pub struct AppState {
    pub ledger: Arc<Ledger>,
    /// Acting on captures: access, command, views, status.
    pub captures: Captures,
    pub verifier: Verifier,
    pub tokens: TokenKeys,
    pub wechat: WechatClient,
    /// Keys ID numbers for the photo history, as the projection does.
    pub person_keyer: PersonKeyer,
    pub metrics: Metrics,
    /// `GET /captures/{id}`'s reads, batched.
    pub status_reads: StatusReads,
    pub payments: Arc<Payments>,
    pub photos: PhotoService,
    /// 学信网 delivery packages.
    pub deliveries: Deliveries,
    /// Print runs, shipping and address labels.
    pub printing: Printing,
    /// Erasing students' personal information.
    pub erasure: Erasure,
    /// Issues collection codes for the console's download; `None` on an instance that only
    /// verifies them.
    pub code_signer: Option<Arc<CodeSigner>>,
    pub api: ApiSettings,
    /// This instance's name on the idempotency keys it holds.
    pub instance_id: String,
}
