//! Writing a batch's changes to a projection's tables, once per store: PostgreSQL binds whole
//! arrays, SQLite chunks its parameters.

use chrono::{DateTime, Utc};

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

/// Rewrites the query rows of the folded captures, table by table.
pub(crate) async fn write<C: WriteTable>(
    conn: &mut C,
    tables: &[Table],
    folded: &[Folded],
) -> Result<(), ProjectionError> {
    for (index, table) in tables.iter().enumerate() {
        conn.write_table(*table, Changes::of(folded, index)).await?;
    }
    Ok(())
}

/// How a store writes one table's changes: each has its own way of binding many rows.
pub(crate) trait WriteTable {
    async fn write_table(
        &mut self,
        table: Table,
        changes: Changes<'_>,
    ) -> Result<(), ProjectionError>;
}

/// PostgreSQL: one statement per kind of change, each binding whole arrays, so a batch costs at
/// most three statements per table however many rows move.
impl WriteTable for sqlx::PgConnection {
    async fn write_table(
        &mut self,
        table: Table,
        changes: Changes<'_>,
    ) -> Result<(), ProjectionError> {
        for (column, values) in changes.removals(table) {
            if !values.is_empty() {
                sqlx::query(&format!(
                    "DELETE FROM {} WHERE {column} = ANY($1)",
                    table.name
                ))
                .bind(values)
                .execute(&mut *self)
                .await?;
            }
        }
        if changes.insert.is_empty() {
            return Ok(());
        }
        let columns: Vec<Column> = (0..table.columns.len())
            .map(|i| Column::of(&changes.insert, i))
            .collect();
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", i + 1, c.array_type()))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM unnest({})",
            table.name,
            table.columns.join(", "),
            arrays.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for column in &columns {
            query = match column {
                Column::Text(v) => query.bind(v),
                Column::Time(v) => query.bind(v),
                Column::Int(v) => query.bind(v),
                Column::Json(v) => query.bind(v),
            };
        }
        query.execute(&mut *self).await?;
        Ok(())
    }
}

/// SQLite, which has no arrays: lists of bound values, in chunks below its parameter limit.
impl WriteTable for sqlx::SqliteConnection {
    async fn write_table(
        &mut self,
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
                q.build().execute(&mut *self).await?;
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
            q.build().execute(&mut *self).await?;
        }
        Ok(())
    }
}

/// Values per statement when deleting rows on SQLite.
const CHUNK: usize = 1000;
/// Bound parameters per statement; below SQLite's limit.
const MAX_PARAMS: usize = 30_000;
