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
