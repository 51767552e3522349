//! A connection that counts the commands run through it (how many round trips a plan costs).

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use prov_core::{CommandOutput, Connection, NodeStream, RemoteCommand, Stdin, TransportError};

/// The connection behind `inner` (a box or a reference), counting the commands it runs.
pub struct Counting<C> {
    pub inner: C,
    count: AtomicUsize,
}

impl<C> Counting<C> {
    /// Counts the commands run through `inner` from now on.
    pub fn new(inner: C) -> Self {
        Counting {
            inner,
            count: AtomicUsize::new(0),
        }
    }

    /// How many commands ran so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl<C> Connection for Counting<C>
where
    C: std::ops::Deref + Send + Sync,
    C::Target: Connection,
{
    fn host(&self) -> &str {
        self.inner.host()
    }
    async fn exec(
        &self,
        command: &RemoteCommand,
        stdin: Stdin<'_>,
    ) -> Result<CommandOutput, TransportError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.exec(command, stdin).await
    }
    async fn open_tcp(&self, addr: &str, port: u16) -> Result<Box<dyn NodeStream>, TransportError> {
        self.inner.open_tcp(addr, port).await
    }
}
