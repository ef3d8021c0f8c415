//! One statement for either backend: its SQL written once with `?` (numbered for PostgreSQL), its
//! values bound from one list, its rows decoded by one `FromRow` (sqlx derives it for any row
//! type). The store's queries move onto this as PostgreSQL learns them (issue 18).

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, PgPool, SqlitePool};

use crate::query::sql::numbered;

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(Option<String>),
    Int(i64),
}

impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Self {
        Value::Text(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

/// Where a statement runs.
#[derive(Debug, Clone, Copy)]
pub enum Db<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

impl Db<'_> {
    /// Every row `sql` reads with `values` bound.
    pub async fn fetch_all<T>(self, sql: &str, values: &[Value]) -> sqlx::Result<Vec<T>>
    where
        T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        match self {
            Db::Sqlite(pool) => {
                let mut query = sqlx::query_as::<_, T>(sql);
                for value in values {
                    query = match value {
                        Value::Text(text) => query.bind(text.clone()),
                        Value::Int(n) => query.bind(*n),
                    };
                }
                query.fetch_all(pool).await
            }
            Db::Postgres(pool) => {
                let sql = numbered(sql);
                // Planned for its values each time: whether an index serves a condition can
                // depend on them (see docs/performance.md).
                let mut query = sqlx::query_as::<_, T>(&sql).persistent(false);
                for value in values {
                    query = match value {
                        Value::Text(text) => query.bind(text.clone()),
                        Value::Int(n) => query.bind(*n),
                    };
                }
                query.fetch_all(pool).await
            }
        }
    }

    /// The one number `sql` reads (a count, say).
    pub async fn fetch_number(self, sql: &str, values: &[Value]) -> sqlx::Result<i64> {
        let rows: Vec<(i64,)> = self.fetch_all(sql, values).await?;
        rows.into_iter()
            .next()
            .map(|(n,)| n)
            .ok_or(sqlx::Error::RowNotFound)
    }
}
