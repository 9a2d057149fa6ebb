use photo_ledger_domain::CaptureError;
use photo_ledger_projections::ProjectionError;
use photo_ledger_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The capture's rules refused the command.
    #[error(transparent)]
    Refused(#[from] CaptureError),
    #[error("command id {command_id:?} was already used for a different {previous} command on this capture")]
    CommandIdReused {
        command_id: String,
        previous: String,
    },
    #[error("capture {0} is changing too fast (lost {1} concurrent races); try again")]
    Contended(String, u32),
    #[error("the event store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        LedgerError::Store(Box::new(e))
    }
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Store(Box::new(e))
    }
}

impl LedgerError {
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Refused(e) => e.code(),
            LedgerError::CommandIdReused { .. } => "command.id_reused",
            LedgerError::Contended(..) => "ledger.contended",
            LedgerError::Store(_) => "ledger.store_unavailable",
            LedgerError::Projection(ProjectionError::WaitTimedOut(_)) => {
                "ledger.projection_lagging"
            }
            LedgerError::Projection(_) => "ledger.store_unavailable",
        }
    }

    pub fn message(&self) -> String {
        match self {
            LedgerError::Refused(e) => e.message(),
            LedgerError::CommandIdReused { .. } => "请求编号已被其他操作使用，请刷新后重试".into(),
            LedgerError::Contended(..) => "操作过于频繁，请稍后重试".into(),
            LedgerError::Store(_) | LedgerError::Projection(_) => {
                "服务暂时不可用，请稍后重试".into()
            }
        }
    }
}
