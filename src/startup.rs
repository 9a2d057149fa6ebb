//! Building the service: database, migrations, projector, ledger and HTTP server. Tests build
//! the same [`Application`] on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use photo_ledger_projections::{all_projections, Projector, ProjectorConfig};
use photo_ledger_store::personal::KeyRing;
use photo_ledger_store::{Db, Decoder};
use tokio::task::JoinSet;

use crate::accounts::wechat_login::WechatClient;
use crate::audit::Sealer;
use crate::captures::status_reads::StatusReads;
use crate::captures::Captures;
use crate::configuration::{PhotoSettings, Settings, StoreSettings};
use crate::delivery::Deliveries;
use crate::eligibility::attempts::AttemptLimits;
use crate::eligibility::Verifier;
use crate::erasure::retention::erase_continually;
use crate::erasure::Erasure;
use crate::http::state::AppState;
use crate::http::token::TokenKeys;
use crate::http::RouteOptions;
use crate::ledger::{Ledger, LedgerConfig};
use crate::memory_budget::MemoryBudget;
use crate::payments::order_query::{query_periodically, OrderQuery};
use crate::payments::refunds::{refund_continually, RefundWorker};
use crate::payments::wechat_pay::prepay::PayClient;
use crate::payments::wechat_pay::NotifyVerifier;
use crate::payments::Payments;
use crate::photos::{PhotoPipeline, PhotoService, PhotoStore};
use crate::printing::Printing;
use crate::telemetry::metrics::Metrics;
use photo_ledger_photo::models::{RuntimeConfig, DEFAULT_ONNXRUNTIME};
use photo_ledger_photo::Standardiser;

/// Opens the database named by the settings and brings its schema up to date.
pub async fn open_store(store: &StoreSettings) -> anyhow::Result<Db> {
    let db = Db::connect(store.database_url(), &store.data_dir, store.db_connections)
        .await
        .context("cannot open the database (check store.database_url / --database-url, or store.data_dir / --data-dir)")?;
    db.migrate()
        .await
        .context("cannot bring the database schema up to date")?;
    let keys = KeyRing::new(db.clone(), store.master_keys()?);
    let sealed = photo_ledger_store::seal_existing::seal_existing(&db, &keys)
        .await
        .context("cannot seal the personal information stored in clear before sealing existed")?;
    if sealed.events > 0 {
        tracing::info!(
            captures = sealed.captures,
            events = sealed.events,
            "personal information stored before sealing existed is sealed, and its captures chained again"
        );
    }
    let chained = photo_ledger_store::chain::chain_unhashed(&db)
        .await
        .context("cannot chain the events stored before the log was hashed")?;
    if chained > 0 {
        tracing::info!(
            chained,
            "events stored before the log was hashed are chained"
        );
    }
    Ok(db)
}

/// Reads the log of `db`, opening personal fields with the data keys the master key unwraps.
pub fn decoder(db: Db, store: &StoreSettings) -> anyhow::Result<Arc<Decoder>> {
    let keys = KeyRing::new(db, store.master_keys()?);
    Ok(Arc::new(Decoder::new(Arc::new(keys))))
}

/// The ledger with its projector, ready to run commands.
pub async fn open_ledger(
    store: &StoreSettings,
    projector_config: ProjectorConfig,
) -> anyhow::Result<Arc<Ledger>> {
    let decoder = decoder(open_store(store).await?, store)?;
    let projector = Projector::new(
        decoder.clone(),
        all_projections(store.person_keyer()?),
        projector_config,
    );
    projector
        .init()
        .await
        .context("cannot prepare projection checkpoints")?;
    Ok(Arc::new(Ledger::new(
        decoder,
        projector,
        LedgerConfig::default(),
    )))
}

/// Payments on the captures: WeChat Pay's notifications verified and, with a merchant key, its
/// API.
pub fn payments(settings: &Settings, captures: Captures) -> anyhow::Result<Payments> {
    let pay = &settings.api.wechat_pay;
    let app_id = &settings.api.wechat.app_id;
    let notify = Arc::new(NotifyVerifier::new(pay, app_id, settings.dev)?);
    let client = PayClient::new(pay, app_id, notify.clone())?;
    Ok(Payments::new(captures, notify, client))
}

/// Loads the models once, when ONNX Runtime is configured.
fn photo_pipeline(
    settings: &PhotoSettings,
    budget: Arc<MemoryBudget>,
) -> anyhow::Result<Option<PhotoPipeline>> {
    let Some(onnxruntime) = settings.onnxruntime.clone() else {
        tracing::warn!(
            "photos.onnxruntime is not set (for example {DEFAULT_ONNXRUNTIME}, from tools/onnxruntime/fetch.sh): photo uploads answer 503"
        );
        return Ok(None);
    };
    let standardiser = Standardiser::new(settings.standardiser(RuntimeConfig {
        onnxruntime,
        models_dir: settings.models_dir.clone(),
        intra_threads: settings.model_threads.max(1),
    }))
    .context("cannot load the photo models")?;
    Ok(Some(PhotoPipeline::new(
        standardiser,
        settings.concurrent_standardisations,
        budget,
    )))
}

pub struct Application {
    port: u16,
    server: Server,
    ledger: Arc<Ledger>,
    background_tasks: JoinSet<()>,
}

impl Application {
    pub async fn build(settings: &Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let tokens = TokenKeys::from_settings(
            settings.api.auth.token_secret.as_ref(),
            settings.dev,
            &settings.store.data_dir,
        )?;
        let wechat = WechatClient::new(&settings.api.wechat)?;
        let codes = settings.codes.verifier(&settings.store.data_dir)?;
        let code_signer = settings
            .codes
            .issuing_signer(&settings.store.data_dir)?
            .map(Arc::new);
        let ledger = open_ledger(&settings.store, ProjectorConfig::default()).await?;
        let mut background_tasks = ledger.projector().spawn();
        let audit_key = settings.audit.key(&settings.store.data_dir)?;
        background_tasks.spawn(Sealer::new(ledger.db().clone(), audit_key, &settings.audit).run());
        let instance_id = settings.api.http.instance_id(&settings.store.data_dir)?;
        let abandoned =
            crate::http::idempotency::release_abandoned(ledger.db(), &instance_id).await?;
        if abandoned > 0 {
            tracing::info!(
                abandoned,
                "idempotency keys left claimed by this instance's last run released"
            );
        }
        background_tasks.spawn(crate::http::idempotency::purge_periodically(
            ledger.db().clone(),
            chrono::Duration::hours(i64::from(settings.api.http.idempotency_ttl_hours)),
        ));
        let port = listener.local_addr()?.port();
        let metrics = Metrics::new();
        let captures = Captures::new(ledger.clone(), metrics.clone());
        let payments = Arc::new(payments(settings, captures.clone())?);
        if payments.client().is_some() && settings.api.wechat_pay.query_for_hours > 0 {
            background_tasks.spawn(query_periodically(OrderQuery {
                payments: payments.clone(),
                metrics: metrics.clone(),
                after_secs: settings.api.wechat_pay.query_after_secs,
                for_hours: settings.api.wechat_pay.query_for_hours,
            }));
        }
        if payments.client().is_some() {
            background_tasks.spawn(refund_continually(RefundWorker::new(
                payments.clone(),
                &settings.api.wechat_pay,
            )));
        }
        let decoding = Arc::new(MemoryBudget::new(settings.api.photos.decode_budget_mib));
        let photo_store =
            PhotoStore::from_settings(&settings.api.photos, &settings.store.data_dir)?;
        let photos = PhotoService::new(
            captures.clone(),
            photo_store.clone(),
            photo_pipeline(&settings.api.photos, decoding.clone())?,
            decoding.clone(),
            metrics.clone(),
        );
        let erasure = Erasure::new(
            captures.clone(),
            photo_store.clone(),
            settings.store.person_keyer()?,
        );
        background_tasks.spawn(erase_continually(
            erasure.clone(),
            std::time::Duration::from_secs(settings.store.retention_every_secs.max(1)),
        ));
        let state = web::Data::new(AppState {
            verifier: Verifier::new(ledger.clone(), codes, AttemptLimits::default())
                .decoding_within(decoding),
            ledger: ledger.clone(),
            deliveries: Deliveries::new(captures.clone(), photo_store.clone()),
            erasure: erasure.clone(),
            printing: Printing::new(captures.clone()),
            code_signer,
            captures,
            tokens,
            wechat,
            person_keyer: settings.store.person_keyer()?,
            metrics,
            status_reads: StatusReads::start(ledger.db().clone()),
            payments,
            photos,
            api: settings.api.clone(),
            instance_id,
        });
        // The same-photo search reads every hash once; better now than in a student's submission.
        let loading = state.clone();
        background_tasks.spawn(async move {
            match loading.photos.same_photos().catch_up().await {
                Ok(photos) => tracing::info!(photos, "same-photo search loaded"),
                Err(error) => tracing::warn!(
                    error = %crate::telemetry::ErrorChain(&error),
                    "same-photo search not loaded yet; the first submission loads it"
                ),
            }
        });
        let options = RouteOptions {
            dev: settings.dev,
            json_limit: settings.api.http.json_limit_bytes,
            verify_limit: settings.api.http.verify_limit_bytes,
            roster_limit: settings.api.http.roster_limit_bytes,
            upload_limit: settings.api.photos.upload_limit_bytes,
        };
        actix_http::h1::set_unreadable_request_body(crate::http::error::unreadable_request_body);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(crate::http::request_id::middleware))
                .app_data(state.clone())
                .configure(crate::http::routes(options))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            ledger,
            background_tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn ledger(&self) -> Arc<Ledger> {
        self.ledger.clone()
    }

    /// Stops the server from outside, as SIGTERM does: it drains and `run_until_stopped` ends.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests and stops the projector.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        self.server.await?;
        self.background_tasks.shutdown().await;
        self.ledger.close().await;
        Ok(())
    }
}
