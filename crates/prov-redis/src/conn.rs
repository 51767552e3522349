//! How nodes are reached: a caller-provided connector yields a byte stream per node, and a
//! redis connection (with AUTH) is built over it.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisConnectionInfo};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::spec::NodeSpec;

/// A bidirectional byte stream to one Redis node (an SSH direct-tcpip channel, a TCP socket...).
pub trait NodeStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> NodeStream for T {}

/// Opens a stream to a node. prov implements it with SSH direct-tcpip streams opened on the
/// node's own host; [`TcpConnector`] is the loopback implementation used by tests.
#[async_trait]
pub trait NodeConnector: Send + Sync {
    /// Opens a new stream to `node`'s Redis port.
    async fn connect(&self, node: &NodeSpec) -> std::io::Result<Box<dyn NodeStream>>;
}

/// Connects with plain TCP to `addr:port` of each node. Meant for tests on loopback.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector;

#[async_trait]
impl NodeConnector for TcpConnector {
    async fn connect(&self, node: &NodeSpec) -> std::io::Result<Box<dyn NodeStream>> {
        let stream = tokio::net::TcpStream::connect((node.addr.as_str(), node.port)).await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }
}

/// Errors while talking to the cluster. Messages name the node and the command, never the
/// password.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The connector could not open a stream.
    #[error("cannot reach redis node {node}: {source}")]
    Connect {
        /// The node.
        node: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Opening the stream or the handshake did not finish in time.
    #[error("timed out connecting to redis node {node}")]
    ConnectTimeout {
        /// The node.
        node: String,
    },
    /// A command failed (server error, AUTH failure, broken stream...).
    #[error("redis node {node}: {what} failed: {source}")]
    Redis {
        /// The node.
        node: String,
        /// The command or stage (never includes arguments).
        what: String,
        /// Underlying error.
        source: redis::RedisError,
    },
    /// The reply did not have the expected shape.
    #[error("redis node {node}: unexpected reply to {what}: {detail}")]
    Protocol {
        /// The node.
        node: String,
        /// The command.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// The plan does not belong to the given spec.
    #[error("plan does not match the cluster spec: {0}")]
    PlanMismatch(String),
    /// Nodes did not reach the expected state in time.
    #[error("cluster did not converge within {waited:?} ({what}):\n  {}", .disagreements.join("\n  "))]
    NotConverged {
        /// What was awaited.
        what: String,
        /// How long was waited.
        waited: Duration,
        /// Which node disagrees about what, from the last check.
        disagreements: Vec<String>,
    },
}

impl ClusterError {
    pub(crate) fn redis(node: &NodeSpec, what: &str, source: redis::RedisError) -> Self {
        ClusterError::Redis {
            node: node.to_string(),
            what: what.to_string(),
            source,
        }
    }
}

/// Time allowed for opening a stream and the AUTH handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed for one reply.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens a redis connection to `node` through `connector` and authenticates with `password`.
///
/// The connection driver is spawned on the current tokio runtime and stops when the returned
/// connection (and its clones) are dropped.
pub async fn connect_node(
    node: &NodeSpec,
    password: Option<&str>,
    connector: &dyn NodeConnector,
) -> Result<MultiplexedConnection, ClusterError> {
    let fut = async {
        let stream = connector
            .connect(node)
            .await
            .map_err(|source| ClusterError::Connect {
                node: node.to_string(),
                source,
            })?;
        let mut info = RedisConnectionInfo::default().set_skip_set_lib_name();
        if let Some(pw) = password {
            info = info.set_password(pw);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let (conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
            .await
            .map_err(|e| ClusterError::redis(node, "connection handshake (AUTH)", e))?;
        tokio::spawn(driver);
        Ok(conn)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| ClusterError::ConnectTimeout {
            node: node.to_string(),
        })?
}
