//! Deleting every key of one map: `SCAN` on the server, or on each master of a cluster.

use redis::aio::ConnectionLike;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{RedisResult, Value};

use super::tier::Conn;

/// Keys asked of `SCAN` at a time.
const BATCH: usize = 512;

/// Unlinks every key matching `pattern`.
pub(crate) async fn unlink_matching(conn: &mut Conn, pattern: &str) -> RedisResult<()> {
    match conn {
        Conn::Single(_) => {
            let mut single = conn.clone();
            scan_node(&mut single, pattern, None).await
        }
        Conn::Cluster(cluster) => {
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(cluster)
                .await?;
            for (host, port) in masters(&nodes) {
                let mut node = conn.clone();
                scan_node(&mut node, pattern, Some((host, port))).await?;
            }
            Ok(())
        }
    }
}

/// Scans one node (`None`: the only one) and unlinks what it finds, key by key so a cluster
/// routes each to its slot.
async fn scan_node(conn: &mut Conn, pattern: &str, node: Option<(String, u16)>) -> RedisResult<()> {
    let mut cursor = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(BATCH);
        let reply: Value = match (&mut *conn, &node) {
            (Conn::Cluster(cluster), Some((host, port))) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                cluster.route_command(scan, routing).await?
            }
            (conn, _) => conn.req_packed_command(&scan).await?,
        };
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)?;
        for key in keys {
            redis::cmd("UNLINK")
                .arg(key)
                .query_async::<()>(&mut *conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The masters' addresses in a `CLUSTER NODES` reply: `id host:port@bus flags ...`.
fn masters(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.nth(1)?;
            let flags = fields.next()?;
            if !flags.split(',').any(|flag| flag == "master") || flags.contains("fail") {
                return None;
            }
            let (host, port) = address.split('@').next()?.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7002@17002 slave b2 0 0 2 connected
d4 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected
";
        assert_eq!(
            super::masters(nodes),
            [
                ("127.0.0.1".to_owned(), 7000),
                ("127.0.0.1".to_owned(), 7001)
            ]
        );
    }
}
