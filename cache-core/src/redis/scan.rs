//! Deleting every key of one map: `SCAN` on the server, or on each master of a cluster, a page
//! at a time (each page one bounded operation of the tier).

use futures_util::future::try_join_all;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{RedisResult, Value};

use super::tier::Conn;

/// Keys asked of `SCAN` at a time.
const PAGE: usize = 512;

/// A node to scan: `None` for the only server.
pub(crate) type Node = Option<(String, u16)>;

/// The nodes holding keys: the server, or every master of the cluster.
pub(crate) async fn nodes(conn: &mut Conn) -> RedisResult<Vec<Node>> {
    match conn {
        Conn::Single(_) => Ok(vec![None]),
        Conn::Cluster(cluster) => {
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(cluster)
                .await?;
            Ok(masters(&nodes).into_iter().map(Some).collect())
        }
    }
}

/// Scans one page of `node` from `cursor`, unlinks what it found and returns the next cursor
/// (0 when the node is done). Keys are unlinked one command each, all at once: in a cluster
/// each may live in another slot.
pub(crate) async fn unlink_page(
    conn: &mut Conn,
    node: Option<&(String, u16)>,
    pattern: &str,
    cursor: u64,
) -> RedisResult<u64> {
    let mut scan = redis::cmd("SCAN");
    scan.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(PAGE);
    let reply: Value = match (&mut *conn, node) {
        (Conn::Cluster(cluster), Some((host, port))) => {
            let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                host: host.clone(),
                port: *port,
            });
            cluster.route_command(scan, routing).await?
        }
        (conn, _) => scan.query_async(conn).await?,
    };
    let (next, keys): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)?;
    let unlinks = keys.into_iter().map(|key| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("UNLINK")
                .arg(key)
                .query_async::<()>(&mut conn)
                .await
        }
    });
    try_join_all(unlinks).await?;
    Ok(next)
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
