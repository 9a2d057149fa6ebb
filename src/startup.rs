//! Building the service: database, migrations, projector, ledger and HTTP server. Tests build
//! the same [`Application`] on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use photo_ledger_projections::{all_projections, Db, Projector, ProjectorConfig};
use tokio::task::JoinSet;

use crate::ledger::{Ledger, LedgerConfig};
use crate::settings::StoreSettings;

/// Opens the database named by the settings and brings its schema up to date.
pub async fn open_store(store: &StoreSettings) -> anyhow::Result<Db> {
    let db = Db::connect(
        store.database_url.as_deref(),
        &store.data_dir,
        store.db_connections,
    )
    .await
    .context("cannot open the database (check --database-url / DATABASE_URL, or --data-dir)")?;
    db.migrate()
        .await
        .context("cannot bring the database schema up to date")?;
    Ok(db)
}

/// The ledger with its projector, ready to run commands.
pub async fn open_ledger(
    store: &StoreSettings,
    projector_config: ProjectorConfig,
) -> anyhow::Result<Arc<Ledger>> {
    let db = open_store(store).await?;
    let projector = Projector::new(
        db.clone(),
        all_projections(store.person_keyer()?),
        projector_config,
    );
    projector
        .init()
        .await
        .context("cannot prepare projection checkpoints")?;
    Ok(Arc::new(Ledger::new(
        db,
        projector,
        LedgerConfig::default(),
    )))
}

pub struct AppState {
    pub ledger: Arc<Ledger>,
    pub dev: bool,
}

pub struct Application {
    port: u16,
    server: Server,
    ledger: Arc<Ledger>,
    projector_tasks: JoinSet<()>,
}

impl Application {
    pub async fn build(
        store: &StoreSettings,
        listener: TcpListener,
        dev: bool,
    ) -> anyhow::Result<Self> {
        let ledger = open_ledger(store, ProjectorConfig::default()).await?;
        let projector_tasks = ledger.projector().spawn();
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            ledger: ledger.clone(),
            dev,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(crate::http::routes)
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            ledger,
            projector_tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn ledger(&self) -> Arc<Ledger> {
        self.ledger.clone()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests and stops the projector.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        self.server.await?;
        self.projector_tasks.shutdown().await;
        self.ledger.db().close().await;
        Ok(())
    }
}
