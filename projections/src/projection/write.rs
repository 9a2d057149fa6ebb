//! Writing a batch's changes to the views' tables and the checkpoints it reaches, once per store:
//! PostgreSQL makes all of them in one statement binding whole arrays, SQLite chunks its
//! parameters.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use photo_ledger_store::log::Position;

use super::{Folded, Removal, Row, SqlValue, Table};
use crate::error::ProjectionError;

/// The rows a write removes and inserts in one table, gathered from every folded capture.
pub(crate) struct Changes<'a> {
    /// Captures whose every row goes.
    whole: Vec<&'a str>,
    /// Keys (first column values) of single rows that go.
    keys: Vec<&'a str>,
    insert: Vec<&'a Row>,
}

impl<'a> Changes<'a> {
    /// The changes to table number `table`.
    fn of(folded: &'a [Folded], table: usize) -> Self {
        let mut changes = Changes {
            whole: Vec::new(),
            keys: Vec::new(),
            insert: Vec::new(),
        };
        for f in folded.iter().filter(|f| f.table == table) {
            match &f.remove {
                Removal::AllOfCapture => changes.whole.push(f.capture_id.as_str()),
                Removal::Keys(keys) => changes.keys.extend(keys.iter().map(SqlValue::key)),
            }
            changes.insert.extend(f.insert.iter().map(|row| &**row));
        }
        changes
    }

    /// What goes, as (column, values of that column).
    fn removals(&self, table: Table) -> [(&'static str, &Vec<&'a str>); 2] {
        [("capture_id", &self.whole), (table.columns[0], &self.keys)]
    }

    fn is_empty(&self) -> bool {
        self.whole.is_empty() && self.keys.is_empty() && self.insert.is_empty()
    }
}

/// One column of the rows being inserted, as the array PostgreSQL unnests.
enum Column<'a> {
    Text(Vec<Option<&'a str>>),
    Time(Vec<Option<DateTime<Utc>>>),
    Int(Vec<Option<i64>>),
    /// Serialised documents, stored as `json` by PostgreSQL.
    Json(Vec<&'a str>),
}

impl<'a> Column<'a> {
    fn of(rows: &[&'a Row], index: usize) -> Self {
        let mut column = match rows.first().map(|row| &row[index]) {
            Some(SqlValue::Time(_) | SqlValue::OptTime(_)) => {
                Column::Time(Vec::with_capacity(rows.len()))
            }
            Some(SqlValue::OptInt(_)) => Column::Int(Vec::with_capacity(rows.len())),
            Some(SqlValue::Json(_)) => Column::Json(Vec::with_capacity(rows.len())),
            _ => Column::Text(Vec::with_capacity(rows.len())),
        };
        for row in rows {
            match (&mut column, &row[index]) {
                (Column::Text(v), SqlValue::Text(s)) => v.push(Some(s)),
                (Column::Text(v), SqlValue::OptText(s)) => v.push(s.as_deref()),
                (Column::Time(v), SqlValue::Time(t)) => v.push(Some(*t)),
                (Column::Time(v), SqlValue::OptTime(t)) => v.push(*t),
                (Column::Int(v), SqlValue::OptInt(n)) => v.push(*n),
                (Column::Json(v), SqlValue::Json(s)) => v.push(s),
                (_, value) => unreachable!("column {index} mixes value kinds: {value:?}"),
            }
        }
        column
    }

    fn array_type(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Time(_) => "timestamptz[]",
            Column::Int(_) => "bigint[]",
            Column::Json(_) => "text[]::json[]",
        }
    }
}

/// The projections a batch moved and the position they reach, written with their rows, and
/// the checkpoints it was folded from.
pub(crate) struct Advance<'a> {
    pub names: &'a [&'a str],
    pub to: Position,
    /// Every projection the batch was folded for, in name order, and the checkpoint each was
    /// folded from: the write goes ahead only if they are all still there.
    pub folded: &'a [&'a str],
    pub from: &'a [Position],
}

/// Rewrites the query rows of the folded captures and advances the checkpoints of the
/// projections that folded them: `folded` holds each view's tables and the changes folded for
/// them. Returns whether it wrote: nothing is written when a checkpoint is no longer the one
/// the batch was folded from (another runner, or a reset, moved it).
pub(crate) async fn write<C: WriteTables>(
    conn: &mut C,
    folded: &[(&[Table], Vec<Folded>)],
    advance: Advance<'_>,
) -> Result<bool, ProjectionError> {
    let changes: Vec<(Table, Changes)> = folded
        .iter()
        .flat_map(|(tables, folded)| {
            tables
                .iter()
                .enumerate()
                .map(|(index, table)| (*table, Changes::of(folded, index)))
        })
        .filter(|(_, changes)| !changes.is_empty())
        .collect();
    if changes.is_empty() && advance.names.is_empty() {
        return Ok(true);
    }
    conn.write_tables(changes, advance).await
}

/// How a store writes tables' changes and checkpoints: each has its own way of binding many
/// rows, and of making sure the checkpoints did not move. Returns whether it wrote.
pub(crate) trait WriteTables {
    async fn write_tables(
        &mut self,
        changes: Vec<(Table, Changes<'_>)>,
        advance: Advance<'_>,
    ) -> Result<bool, ProjectionError>;
}

/// One bound value of the PostgreSQL statement.
enum Bound<'a> {
    Keys(&'a [&'a str]),
    Column(&'a Column<'a>),
    Int(i64),
    Ints(&'a [i64]),
    Time(DateTime<Utc>),
}

/// PostgreSQL: every table's changes in one statement, each part binding whole arrays, so a
/// batch costs one round trip however many rows and tables it changes. The parts are
/// data-modifying `WITH` queries, which run together on one snapshot in no set order, so no two
/// touch the same row: a table whose key is unique ([`Table::unique_key`]) has its changed rows
/// updated in place by the insert (`ON CONFLICT`) and deletes only the keys that are not
/// inserted again; in a table without a unique key, a delete cannot see the rows the insert
/// adds. The checkpoints' advance is one more part, so rows and checkpoints cost one round trip.
///
/// The statement first locks the checkpoint rows of every projection folded, in name order, and
/// keeps those still where the batch was folded from (a row another transaction moved meanwhile
/// is looked at again once that one commits, and no longer matches). Every other part writes
/// only if all of them are there: the statement is its own compare-and-swap, so it needs no
/// transaction around it and no lock taken beforehand, and a batch that lost the race writes
/// nothing.
impl WriteTables for sqlx::PgConnection {
    async fn write_tables(
        &mut self,
        mut changes: Vec<(Table, Changes<'_>)>,
        advance: Advance<'_>,
    ) -> Result<bool, ProjectionError> {
        for (table, changes) in &mut changes {
            if table.unique_key {
                let inserted: HashSet<&str> =
                    changes.insert.iter().map(|row| row[0].key()).collect();
                changes.keys.retain(|key| !inserted.contains(key));
            }
        }
        let columns: Vec<Vec<Column>> = changes
            .iter()
            .map(|(table, changes)| {
                if changes.insert.is_empty() {
                    return vec![];
                }
                (0..table.columns.len())
                    .map(|i| Column::of(&changes.insert, i))
                    .collect()
            })
            .collect();
        let (txids, positions): (Vec<i64>, Vec<i64>) =
            advance.from.iter().map(|p| (p.txid, p.position)).unzip();
        let mut bound: Vec<Bound> = Vec::new();
        let mut param = |value, cast: &str| {
            bound.push(value);
            format!("${}::{cast}", bound.len())
        };
        let claimed = [
            param(Bound::Keys(advance.folded), "text[]"),
            param(Bound::Ints(&txids), "bigint[]"),
            param(Bound::Ints(&positions), "bigint[]"),
        ];
        let mut parts = vec![
            format!(
                "claimed AS (SELECT c.projection FROM projection_checkpoints c \
                   JOIN unnest({}, {}, {}) AS f(projection, txid, position) \
                     ON c.projection = f.projection AND c.txid = f.txid AND c.position = f.position \
                   ORDER BY c.projection FOR UPDATE OF c)",
                claimed[0], claimed[1], claimed[2]
            ),
            format!(
                "held AS (SELECT count(*) = {} AS held FROM claimed)",
                advance.folded.len()
            ),
        ];
        const HELD: &str = "(SELECT held FROM held)";
        for (n, ((table, changes), columns)) in changes.iter().zip(&columns).enumerate() {
            let key = table.columns[0];
            let arrays: Vec<String> = columns
                .iter()
                .map(|c| param(Bound::Column(c), c.array_type()))
                .collect();
            let mut gone = Vec::new();
            if !changes.whole.is_empty() {
                let whole = param(Bound::Keys(&changes.whole), "text[]");
                gone.push(match arrays.first() {
                    Some(inserted) if table.unique_key => {
                        format!("(capture_id = ANY({whole}) AND {key} <> ALL({inserted}))")
                    }
                    _ => format!("capture_id = ANY({whole})"),
                });
            }
            if !changes.keys.is_empty() {
                let keys = param(Bound::Keys(&changes.keys), "text[]");
                gone.push(format!("{key} = ANY({keys})"));
            }
            if !gone.is_empty() {
                parts.push(format!(
                    "gone_{n} AS (DELETE FROM {} WHERE ({}) AND {HELD})",
                    table.name,
                    gone.join(" OR ")
                ));
            }
            if !arrays.is_empty() {
                let on_conflict = if table.unique_key {
                    let updates: Vec<String> = table.columns[1..]
                        .iter()
                        .map(|c| format!("{c} = EXCLUDED.{c}"))
                        .collect();
                    format!(" ON CONFLICT ({key}) DO UPDATE SET {}", updates.join(", "))
                } else {
                    String::new()
                };
                parts.push(format!(
                    "new_{n} AS (INSERT INTO {} ({}) SELECT * FROM unnest({}) WHERE {HELD}{on_conflict})",
                    table.name,
                    table.columns.join(", "),
                    arrays.join(", ")
                ));
            }
        }
        if !advance.names.is_empty() {
            let names = param(Bound::Keys(advance.names), "text[]");
            let txid = param(Bound::Int(advance.to.txid), "bigint");
            let position = param(Bound::Int(advance.to.position), "bigint");
            let now = param(Bound::Time(Utc::now()), "timestamptz");
            parts.push(format!(
                "advanced AS (UPDATE projection_checkpoints \
                   SET txid = {txid}, position = {position}, updated_at = {now} \
                   WHERE projection = ANY({names}) AND {HELD})"
            ));
        }
        let sql = format!("WITH {} SELECT held FROM held", parts.join(", "));
        let mut query = sqlx::query_scalar::<_, bool>(&sql);
        for value in &bound {
            query = match value {
                Bound::Keys(v) => query.bind(*v),
                Bound::Column(Column::Text(v)) => query.bind(v),
                Bound::Column(Column::Time(v)) => query.bind(v),
                Bound::Column(Column::Int(v)) => query.bind(v),
                Bound::Column(Column::Json(v)) => query.bind(v),
                Bound::Int(n) => query.bind(*n),
                Bound::Ints(v) => query.bind(*v),
                Bound::Time(t) => query.bind(*t),
            };
        }
        Ok(query.fetch_one(&mut *self).await?)
    }
}

/// SQLite, which has no arrays: lists of bound values, in chunks below its parameter limit, and
/// one statement per checkpoint. Its statements are calls into the same process, not round
/// trips. A batch there claims its checkpoints in its transaction first (`claim_sqlite`), which
/// holds the file's one write lock from then on: they cannot move under it.
impl WriteTables for sqlx::SqliteConnection {
    async fn write_tables(
        &mut self,
        changes: Vec<(Table, Changes<'_>)>,
        advance: Advance<'_>,
    ) -> Result<bool, ProjectionError> {
        for (table, changes) in changes {
            write_sqlite(self, table, changes).await?;
        }
        for name in advance.names {
            sqlx::query("UPDATE projection_checkpoints SET txid = $2, position = $3, updated_at = $4 WHERE projection = $1")
                .bind(name)
                .bind(advance.to.txid)
                .bind(advance.to.position)
                .bind(Utc::now())
                .execute(&mut *self)
                .await?;
        }
        Ok(true)
    }
}

/// One table's changes on SQLite: its deletes, then its inserts.
async fn write_sqlite(
    conn: &mut sqlx::SqliteConnection,
    table: Table,
    changes: Changes<'_>,
) -> Result<(), ProjectionError> {
    for (column, values) in changes.removals(table) {
        for chunk in values.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "DELETE FROM {} WHERE {column} IN (",
                table.name
            ));
            let mut sep = q.separated(", ");
            for value in chunk {
                sep.push_bind(*value);
            }
            q.push(")");
            q.build().execute(&mut *conn).await?;
        }
    }
    let per_statement = (MAX_PARAMS / table.columns.len()).max(1);
    for chunk in changes.insert.chunks(per_statement) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
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
                    SqlValue::Text(s) | SqlValue::Json(s) => b.push_bind(s.as_str()),
                    SqlValue::OptText(s) => b.push_bind(s.as_deref()),
                    SqlValue::Time(t) => b.push_bind(*t),
                    SqlValue::OptTime(t) => b.push_bind(*t),
                    SqlValue::OptInt(n) => b.push_bind(*n),
                };
            }
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Values per statement when deleting rows on SQLite.
const CHUNK: usize = 1000;
/// Bound parameters per statement; below SQLite's limit.
const MAX_PARAMS: usize = 30_000;
