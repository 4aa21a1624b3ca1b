//! Replication statements through the `ReplicaControl` seam, without a source: settings persist across
//! restarts, SHOW REPLICA STATUS uses Replica_/Source_ names, errors carry MySQL's codes.

use repld::control::ReplicaControl;
use repld::replica::{start, ReplicaConfig};
use repld::sql::{Engine, Outcome, Value};

fn config() -> ReplicaConfig {
    ReplicaConfig { auto_start: false, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_persist_and_status_names() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(&dir.path().join("store")).unwrap();
        let replica = start(config(), engine.clone(), dir.path()).await.unwrap();
        assert!(replica.read_only());
        assert!(replica.handle("SELECT 1").await.is_none());
        // Not configured: empty status, START refused with ER_BAD_SLAVE.
        match replica.handle("SHOW SLAVE STATUS").await.unwrap().unwrap() {
            Outcome::Rows(rs) => assert!(rs.rows.is_empty() && !rs.columns.is_empty()),
            other => panic!("{other:?}"),
        }
        let err = replica.handle("START SLAVE").await.unwrap().unwrap_err();
        assert_eq!(err.to_mysql().0, 1200);
        let err = replica.handle("CHANGE MASTER TO MASTER_HOST=").await.unwrap().unwrap_err();
        assert_eq!(err.to_mysql().0, 1064);
        replica
            .handle(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT=1, SOURCE_USER='repl', \
                 SOURCE_PASSWORD='pw', SOURCE_CONNECT_RETRY=3, SOURCE_HEARTBEAT_PERIOD=2",
            )
            .await
            .unwrap()
            .unwrap();
        replica.handle("SET GLOBAL sql_slave_skip_counter = 2").await.unwrap().unwrap();
        replica.shutdown().await.unwrap();
        drop(replica);
        engine.flush().unwrap();
    }
    let engine = Engine::open(&dir.path().join("store")).unwrap();
    let replica = start(config(), engine, dir.path()).await.unwrap();
    let st = replica.status();
    assert_eq!(
        (st.master_host.as_str(), st.master_port, st.master_user.as_str()),
        ("127.0.0.1", 1, "repl")
    );
    assert_eq!(st.connect_retry, 3);
    assert_eq!(st.slave_io_running, "No");
    assert_eq!(st.seconds_behind_master, None);
    match replica.handle("SHOW REPLICA STATUS").await.unwrap().unwrap() {
        Outcome::Rows(rs) => {
            let col = |name: &str| {
                rs.columns.iter().position(|c| c.name == name).unwrap_or_else(|| panic!("{name}"))
            };
            assert_eq!(rs.rows[0][col("Source_Host")], Value::Bytes(b"127.0.0.1".to_vec()));
            assert_eq!(rs.rows[0][col("Replica_IO_Running")], Value::Bytes(b"No".to_vec()));
            assert_eq!(rs.rows[0][col("Seconds_Behind_Source")], Value::Null);
            assert_eq!(rs.rows[0][col("Source_Port")], Value::UInt(1));
        }
        other => panic!("{other:?}"),
    }
    // RESET REPLICA ALL forgets the source.
    replica.handle("RESET REPLICA ALL").await.unwrap().unwrap();
    assert!(!replica.is_configured());
    replica.shutdown().await.unwrap();
}
