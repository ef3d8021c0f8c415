//! The throwaway PostgreSQL cluster the tests run their own (admin_server::testing::postgres).

use admin_server::testing::postgres::Cluster;
use sqlx::Connection;

#[tokio::test]
async fn a_throwaway_cluster_serves_databases_and_leaves_nothing_behind() {
    let cluster = Cluster::start().await.unwrap();
    let (first, second) = (
        cluster.new_database().await.unwrap(),
        cluster.new_database().await.unwrap(),
    );
    assert_ne!(first, second, "each test gets a database of its own");
    let mut connection = sqlx::PgConnection::connect(&first).await.unwrap();
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(!version.is_empty());
    let user: String = sqlx::query_scalar("SELECT current_user")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(user, "attach");
    connection.close().await.unwrap();

    let folder = cluster.folder().to_path_buf();
    assert!(folder.join("data/PG_VERSION").exists());
    drop(cluster);
    assert!(!folder.exists(), "the cluster's folder is removed");
    assert!(
        sqlx::PgConnection::connect(&first).await.is_err(),
        "the cluster is stopped"
    );
}

/// The PostgreSQL schema answers as SQLite's does where the API can tell: the same built-in roles,
/// the same order of names (SQLite's NOCASE folds A-Z only), NULLs first ascending; each device
/// order is one index read both ways; the audit log is append-only; the devices' generation moves
/// once per statement; applying the migrations again changes nothing.
#[tokio::test]
async fn the_postgres_schema_answers_as_the_sqlite_one_does() {
    let cluster = Cluster::start().await.unwrap();
    let url = cluster.new_database().await.unwrap();
    let pg = admin_server::store::postgres::connect(&url).await.unwrap();
    admin_server::store::postgres::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = admin_server::store::Store::connect(&format!(
        "sqlite:{}",
        dir.path().join("admin.db").display()
    ))
    .await
    .unwrap();

    let roles =
        "SELECT id, display_name, description, permissions FROM role_definitions ORDER BY id";
    let on_pg: Vec<(String, String, String, String)> =
        sqlx::query_as(roles).fetch_all(&pg).await.unwrap();
    let on_sqlite: Vec<(String, String, String, String)> = sqlx::query_as(roles)
        .fetch_all(sqlite.reader())
        .await
        .unwrap();
    assert_eq!(on_pg, on_sqlite);

    // A connector, then devices whose names SQLite's NOCASE orders in its own way.
    let names = [
        "b", "B", "a", "Á", "á", "_x", "Zeta", "zeta", "ä", "A", "10", "9",
    ];
    sqlx::query(
        "INSERT INTO connectors (id, hierarchy_id, onboarded_at) VALUES ('c', 'h', '2026-12-01T00:00:00Z')",
    )
    .execute(&pg)
    .await
    .unwrap();
    let generation = || async {
        sqlx::query_scalar::<_, i64>("SELECT generation FROM devices_generation")
            .fetch_one(&pg)
            .await
            .unwrap()
    };
    let before = generation().await;
    sqlx::query(
        "INSERT INTO devices (id, connector_id, device_name, managed_by, owner_type,
             compliance_state, client_health_state, last_sync_at)
         SELECT 'd' || n, 'c', name, 'configManager', 'company', 'compliant', 'healthy',
             CASE WHEN n % 3 = 0 THEN NULL ELSE '2026-12-01T00:00:0' || (n % 10) || 'Z' END
         FROM unnest($1::text[]) WITH ORDINALITY AS names (name, n)",
    )
    .bind(names)
    .execute(&pg)
    .await
    .unwrap();
    assert_eq!(generation().await, before + 1, "one statement, one move");

    let ordered: Vec<String> = sqlx::query_scalar(
        "SELECT device_name FROM devices ORDER BY ascii_fold(device_name) NULLS FIRST, seq",
    )
    .fetch_all(&pg)
    .await
    .unwrap();
    let values = names
        .iter()
        .enumerate()
        .map(|(n, name)| format!("('{name}', {n})"))
        .collect::<Vec<_>>()
        .join(", ");
    let on_sqlite: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT column1 FROM (VALUES {values}) ORDER BY column1 COLLATE NOCASE, column2"
    ))
    .fetch_all(sqlite.reader())
    .await
    .unwrap();
    assert_eq!(ordered, on_sqlite);

    let dates: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT last_sync_at FROM devices ORDER BY last_sync_at NULLS FIRST, seq",
    )
    .fetch_all(&pg)
    .await
    .unwrap();
    assert!(dates.first().unwrap().is_none(), "NULLs first ascending");
    assert!(dates.last().unwrap().is_some());

    // Each order is one read of its index, forwards or backwards (planned as if the table were
    // large: a dozen rows would rather be sorted).
    let mut connection = pg.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *connection)
        .await
        .unwrap();
    for (order, index) in [
        (
            "ascii_fold(device_name) NULLS FIRST, seq",
            "devices_by_name",
        ),
        (
            "ascii_fold(device_name) DESC NULLS LAST, seq DESC",
            "devices_by_name",
        ),
        ("last_sync_at NULLS FIRST, seq", "devices_by_last_sync_at"),
        (
            "last_sync_at DESC NULLS LAST, seq DESC",
            "devices_by_last_sync_at",
        ),
        (
            "ascii_fold(model) DESC NULLS LAST, seq DESC",
            "devices_by_model",
        ),
    ] {
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN SELECT id FROM devices ORDER BY {order} LIMIT 50"
        ))
        .fetch_all(&mut *connection)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index Scan") && plan.contains(index),
            "{order}: {plan}"
        );
        assert!(!plan.contains("Sort"), "{order} needs no sort: {plan}");
    }
    drop(connection);

    sqlx::query(
        "INSERT INTO audit_events (id, at, activity, result, actor_type, actor, resource_type)
         VALUES ('e', '2026-12-01T00:00:00Z', 'signIn', 'success', 'user', 'admin', 'session')",
    )
    .execute(&pg)
    .await
    .unwrap();
    for change in [
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let refused = sqlx::query(change).execute(&pg).await.unwrap_err();
        assert!(
            refused.to_string().contains("the audit log is append-only"),
            "{change}: {refused}"
        );
    }
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE actor = 'admin'")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(kept, 1);
    pg.close().await;
    sqlite.close().await;
}
