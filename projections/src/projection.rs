//! What a projection is: a fold of a capture's events into a document, and the query rows that
//! document produces. The projector stores the document and rewrites the capture's rows in the
//! same transaction as the checkpoint.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::ProjectionError;
use crate::log::LoggedEvent;

/// A projection's query table. Every such table has a `capture_id` column: a capture's rows are
/// deleted and rewritten whenever its document changes.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

/// One column value of a query row.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Text(String),
    OptText(Option<String>),
    Time(DateTime<Utc>),
    Json(Value),
}

pub type Row = Vec<SqlValue>;

pub trait Projection: Send + Sync + 'static {
    const NAME: &'static str;
    const TABLE: Table;
    type Doc: Default + Serialize + DeserializeOwned + Send;

    fn apply(&self, doc: &mut Self::Doc, event: &LoggedEvent);
    fn rows(&self, capture_id: &str, doc: &Self::Doc) -> Vec<Row>;
}

/// The result of folding a batch into one capture's document.
#[derive(Debug)]
pub struct Folded {
    pub capture_id: String,
    pub doc: Value,
    pub rows: Vec<Row>,
}

/// A projection with its document type erased, so the projector can hold several.
pub trait Fold: Send + Sync {
    fn name(&self) -> &'static str;
    fn table(&self) -> Table;
    /// Folds `events` into the stored documents (`docs`, by capture id; missing means new).
    fn fold(
        &self,
        docs: HashMap<String, Value>,
        events: &[LoggedEvent],
    ) -> Result<Vec<Folded>, ProjectionError>;
}

impl<P: Projection> Fold for P {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn table(&self) -> Table {
        P::TABLE
    }

    fn fold(
        &self,
        mut docs: HashMap<String, Value>,
        events: &[LoggedEvent],
    ) -> Result<Vec<Folded>, ProjectionError> {
        let mut touched: BTreeMap<&str, P::Doc> = BTreeMap::new();
        for event in events {
            let doc = match touched.entry(&event.capture_id) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let doc = match docs.remove(&event.capture_id) {
                        Some(stored) => serde_json::from_value(stored).map_err(|source| {
                            ProjectionError::UnreadableDocument {
                                projection: P::NAME,
                                capture_id: event.capture_id.clone(),
                                source,
                            }
                        })?,
                        None => P::Doc::default(),
                    };
                    e.insert(doc)
                }
            };
            self.apply(doc, event);
        }
        touched
            .into_iter()
            .map(|(capture_id, doc)| {
                Ok(Folded {
                    capture_id: capture_id.to_string(),
                    rows: self.rows(capture_id, &doc),
                    doc: serde_json::to_value(&doc).expect("projection documents serialise"),
                })
            })
            .collect()
    }
}

/// Writes folded documents and their rows; expanded once per backend.
macro_rules! writer {
    ($load:ident, $write:ident, $db:ty) => {
        pub(crate) async fn $load(
            conn: &mut <$db as sqlx::Database>::Connection,
            projection: &str,
            capture_ids: &[&str],
        ) -> Result<HashMap<String, Value>, ProjectionError> {
            use sqlx::Row as _;
            let mut docs = HashMap::new();
            for chunk in capture_ids.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT capture_id, doc FROM projection_docs WHERE projection = ",
                );
                q.push_bind(projection).push(" AND capture_id IN (");
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                q.push(")");
                for row in q.build().fetch_all(&mut *conn).await? {
                    let doc: sqlx::types::Json<Value> = row.try_get("doc")?;
                    docs.insert(row.try_get("capture_id")?, doc.0);
                }
            }
            Ok(docs)
        }

        pub(crate) async fn $write(
            conn: &mut <$db as sqlx::Database>::Connection,
            projection: &str,
            table: Table,
            folded: &[Folded],
        ) -> Result<(), ProjectionError> {
            for chunk in folded.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO projection_docs (projection, capture_id, doc) ",
                );
                q.push_values(chunk, |mut b, f| {
                    b.push_bind(projection)
                        .push_bind(&f.capture_id)
                        .push_bind(sqlx::types::Json(&f.doc));
                });
                q.push(" ON CONFLICT (projection, capture_id) DO UPDATE SET doc = excluded.doc");
                q.build().execute(&mut *conn).await?;

                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "DELETE FROM {} WHERE capture_id IN (",
                    table.name
                ));
                let mut sep = q.separated(", ");
                for f in chunk {
                    sep.push_bind(&f.capture_id);
                }
                q.push(")");
                q.build().execute(&mut *conn).await?;
            }
            let rows: Vec<&Row> = folded.iter().flat_map(|f| f.rows.iter()).collect();
            let per_statement = (MAX_PARAMS / table.columns.len()).max(1);
            for chunk in rows.chunks(per_statement) {
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "INSERT INTO {} ({}) ",
                    table.name,
                    table.columns.join(", ")
                ));
                q.push_values(chunk, |mut b, row| {
                    debug_assert_eq!(
                        row.len(),
                        table.columns.len(),
                        "row shape of {}",
                        table.name
                    );
                    for value in row.iter() {
                        match value {
                            SqlValue::Text(s) => b.push_bind(s.clone()),
                            SqlValue::OptText(s) => b.push_bind(s.clone()),
                            SqlValue::Time(t) => b.push_bind(*t),
                            SqlValue::Json(v) => b.push_bind(sqlx::types::Json(v.clone())),
                        };
                    }
                });
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }
    };
}

/// Captures per statement when loading or storing documents.
const CHUNK: usize = 1000;
/// Bound parameters per statement; below both PostgreSQL's and SQLite's limits.
const MAX_PARAMS: usize = 30_000;

writer!(load_docs_pg, write_pg, sqlx::Postgres);
writer!(load_docs_sqlite, write_sqlite, sqlx::Sqlite);
