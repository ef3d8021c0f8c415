//! One statement for either backend: its SQL written once with `?` (numbered for PostgreSQL), its
//! values bound from one list, its rows decoded by one `FromRow` (sqlx derives it for any row
//! type). The store's statements are built as sqlx's are (`query(..).bind(..).execute(..)`), and
//! run on a pool ([`Db`]), a transaction ([`Tx`]) or a connection of either backend.

use std::marker::PhantomData;

use super::sql::{numbered_with, Dialect};

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{
    Arguments, FromRow, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool,
};

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
    /// JSON text, for a column that holds JSON (PostgreSQL's `jsonb`; SQLite's text).
    Json(Option<String>),
}

impl Value {
    /// JSON text bound to a JSON column.
    pub fn json(text: impl Into<String>) -> Self {
        Value::Json(Some(text.into()))
    }
}

macro_rules! values_from {
    ($($kind:ident: $($from:ty => $into:expr),+;)+) => {$($(
        impl From<$from> for Value {
            fn from(value: $from) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Value::$kind(($into)(value))
            }
        }
    )+)+};
}

values_from! {
    Text: Option<String> => |v| v,
        String => Some,
        &String => |v: &String| Some(v.clone()),
        &str => |v: &str| Some(v.to_owned()),
        Option<&str> => |v: Option<&str>| v.map(str::to_owned),
        &Option<String> => |v: &Option<String>| v.clone(),
        Option<&String> => |v: Option<&String>| v.cloned();
    Int: i64 => Some,
        Option<i64> => |v| v,
        i32 => |v| Some(i64::from(v)),
        u32 => |v| Some(i64::from(v)),
        usize => |v: usize| Some(i64::try_from(v).unwrap_or(i64::MAX));
    Bool: bool => Some,
        Option<bool> => |v| v;
    Bytes: &[u8] => |v: &[u8]| Some(v.to_vec()),
        Vec<u8> => Some,
        &Vec<u8> => |v: &Vec<u8>| Some(v.clone()),
        Option<Vec<u8>> => |v| v,
        &Option<Vec<u8>> => |v: &Option<Vec<u8>>| v.clone();
}

/// Where a statement runs: a pool of either backend.
#[derive(Debug, Clone, Copy)]
pub enum Db<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

/// A transaction of either backend. SQLite's begin as `BEGIN IMMEDIATE` (the writer is taken at
/// once, so a transaction never fails to upgrade); PostgreSQL's take the store's write lock first
/// (see [`crate::store::Store::begin`]).
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    /// Which SQL it speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }

    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// Something a statement runs on.
pub enum On<'a> {
    SqlitePool(&'a SqlitePool),
    Sqlite(&'a mut SqliteConnection),
    PgPool(&'a PgPool),
    Postgres(&'a mut PgConnection),
}

impl<'a> From<Db<'a>> for On<'a> {
    fn from(db: Db<'a>) -> Self {
        match db {
            Db::Sqlite(pool) => On::SqlitePool(pool),
            Db::Postgres(pool) => On::PgPool(pool),
        }
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        match tx {
            Tx::Sqlite(tx) => On::Sqlite(&mut *tx),
            Tx::Postgres(tx) => On::Postgres(&mut *tx),
        }
    }
}

impl<'a> From<&'a mut SqliteConnection> for On<'a> {
    fn from(connection: &'a mut SqliteConnection) -> Self {
        On::Sqlite(connection)
    }
}

impl<'a> From<&'a mut PgConnection> for On<'a> {
    fn from(connection: &'a mut PgConnection) -> Self {
        On::Postgres(connection)
    }
}

/// A row type both backends decode (sqlx's `FromRow` derive gives it).
pub trait Row: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

impl<T> Row for T where T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{}

/// A statement and its values, whose rows are `O`.
#[must_use]
pub struct Statement<O> {
    sql: String,
    values: Vec<Value>,
    prepared: bool,
    rows: PhantomData<fn() -> O>,
}

/// A statement that changes something (or whose rows are not needed).
pub fn query(sql: impl Into<String>) -> Statement<()> {
    Statement::new(sql)
}

/// A statement whose rows decode as `O`.
pub fn query_as<O: Row>(sql: impl Into<String>) -> Statement<O> {
    Statement::new(sql)
}

/// A statement whose rows are one value each, an `O`.
pub fn query_scalar<O>(sql: impl Into<String>) -> Scalar<O>
where
    (O,): Row,
{
    Scalar(Statement::new(sql))
}

impl<O> Statement<O> {
    fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            values: Vec::new(),
            prepared: false,
            rows: PhantomData,
        }
    }

    /// Prepared once per connection on PostgreSQL, and planned for any values once the server
    /// finds that plan as good as those made for the values it saw: for a statement run often
    /// whose best plan does not depend on its values (a key's lookup, an upload's steps). Others
    /// are planned for their values each time (a filter's value can decide whether an index
    /// serves it). SQLite prepares every statement anyway.
    pub fn prepared(mut self) -> Self {
        self.prepared = true;
        self
    }

    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    /// Binds each of `values` in turn.
    pub fn bind_all(mut self, values: impl IntoIterator<Item = Value>) -> Self {
        self.values.extend(values);
        self
    }

    /// Runs it; the number of rows it changed.
    pub async fn execute<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<u64> {
        run!(on.into(), self, sqlx::query_with, execute, |done| {
            done.rows_affected()
        })
    }
}

/// Runs `$make(sql, arguments).$method(executor)` on whatever `$on` is.
macro_rules! run {
    ($on:expr, $statement:expr, $make:path, $method:ident) => {
        run!($on, $statement, $make, $method, |rows| rows)
    };
    ($on:expr, $statement:expr, $make:path, $method:ident, $then:expr) => {{
        let Statement {
            sql,
            values,
            prepared,
            ..
        } = $statement;
        match $on {
            On::SqlitePool(pool) => $make(&sql, sqlite(values)?).$method(pool).await.map($then),
            On::Sqlite(connection) => $make(&sql, sqlite(values)?)
                .$method(connection)
                .await
                .map($then),
            On::PgPool(pool) => {
                let (sql, arguments) = postgres(&sql, values)?;
                // Planned for its values each time unless prepared (see Statement::prepared).
                $make(&sql, arguments)
                    .persistent(prepared)
                    .$method(pool)
                    .await
                    .map($then)
            }
            On::Postgres(connection) => {
                let (sql, arguments) = postgres(&sql, values)?;
                $make(&sql, arguments)
                    .persistent(prepared)
                    .$method(connection)
                    .await
                    .map($then)
            }
        }
    }};
}
use run;

impl<O: Row> Statement<O> {
    /// Every row it reads.
    pub async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<Vec<O>> {
        run!(on.into(), self, sqlx::query_as_with, fetch_all)
    }

    /// Its first row, if it reads one.
    pub async fn fetch_optional<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<Option<O>> {
        run!(on.into(), self, sqlx::query_as_with, fetch_optional)
    }

    /// Its first row; an error when it reads none.
    pub async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<O> {
        run!(on.into(), self, sqlx::query_as_with, fetch_one)
    }
}

/// A statement whose rows are one value each.
#[must_use]
pub struct Scalar<O>(Statement<(O,)>);

impl<O> Scalar<O>
where
    (O,): Row,
{
    pub fn bind(self, value: impl Into<Value>) -> Self {
        Self(self.0.bind(value))
    }

    pub fn bind_all(self, values: impl IntoIterator<Item = Value>) -> Self {
        Self(self.0.bind_all(values))
    }

    /// See [`Statement::prepared`].
    pub fn prepared(self) -> Self {
        Self(self.0.prepared())
    }

    pub async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<Vec<O>> {
        Ok(self
            .0
            .fetch_all(on)
            .await?
            .into_iter()
            .map(|(v,)| v)
            .collect())
    }

    pub async fn fetch_optional<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<Option<O>> {
        Ok(self.0.fetch_optional(on).await?.map(|(v,)| v))
    }

    pub async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<O> {
        Ok(self.0.fetch_one(on).await?.0)
    }
}

impl Db<'_> {
    /// Which SQL it speaks.
    pub fn dialect(self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Every row `sql` reads with `values` bound.
    pub async fn fetch_all<T: Row>(self, sql: &str, values: &[Value]) -> sqlx::Result<Vec<T>> {
        query_as(sql)
            .bind_all(values.iter().cloned())
            .fetch_all(self)
            .await
    }

    /// The one number `sql` reads (a count, say).
    pub async fn fetch_number(self, sql: &str, values: &[Value]) -> sqlx::Result<i64> {
        query_scalar(sql)
            .bind_all(values.iter().cloned())
            .fetch_one(self)
            .await
    }
}

fn sqlite(values: Vec<Value>) -> sqlx::Result<SqliteArguments<'static>> {
    let mut arguments = SqliteArguments::default();
    for value in values {
        match value {
            Value::Text(v) | Value::Json(v) => arguments.add(v),
            Value::Int(v) => arguments.add(v),
            Value::Bool(v) => arguments.add(v),
            Value::Bytes(v) => arguments.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(arguments)
}

/// The statement with its `?`s numbered (`$1`, …; a JSON value's cast to `jsonb`), and its
/// arguments. `?N` is the Nth value, as on SQLite (a plain `?` then follows the highest so far).
fn postgres(sql: &str, values: Vec<Value>) -> sqlx::Result<(String, PgArguments)> {
    let text = numbered_with(sql, |n| {
        matches!(values.get(n.wrapping_sub(1)), Some(Value::Json(_)))
    });
    let mut arguments = PgArguments::default();
    for value in values {
        match value {
            Value::Text(v) | Value::Json(v) => arguments.add(v),
            Value::Int(v) => arguments.add(v),
            Value::Bool(v) => arguments.add(v),
            Value::Bytes(v) => arguments.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok((text, arguments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_are_cast_for_postgresql_where_they_are_bound() {
        let (sql, _) = postgres(
            "UPDATE t SET a = ?, b = ? WHERE c = ?",
            vec!["x".into(), Value::json("[]"), 3i64.into()],
        )
        .unwrap();
        assert_eq!(
            sql,
            "UPDATE t SET a = $1, b = CAST($2 AS jsonb) WHERE c = $3"
        );
    }

    #[test]
    fn numbered_placeholders_keep_their_numbers() {
        let (sql, _) = postgres(
            "SELECT ?2, ?1, ?, ?1",
            vec![Value::json("{}"), "b".into(), "c".into()],
        )
        .unwrap();
        assert_eq!(sql, "SELECT $2, CAST($1 AS jsonb), $3, CAST($1 AS jsonb)");
    }
}
