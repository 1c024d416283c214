//! A TCP proxy that tests switch off and on to simulate a dependency going
//! away (ClickHouse, Redis) without touching the shared stack's processes:
//! while down it closes every open connection and refuses new ones by
//! closing them at once, as a crashed or unreachable server would look to a
//! client.

use std::net::SocketAddr;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct OutageProxy {
    pub address: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl OutageProxy {
    /// Listens on a free 127.0.0.1 port and forwards to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the outage proxy");
        let address = listener.local_addr().expect("bound address");
        let (up, watcher) = watch::channel(true);
        let target = target.to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*watcher.borrow() {
                    continue; // dropped: the client sees the connection closed
                }
                let mut down = watcher.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { address, up, task }
    }

    /// `http://127.0.0.1:port` or `redis://127.0.0.1:port`-style URL of the proxy.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.address)
    }

    pub fn down(&self) {
        self.up.send_replace(false);
    }

    pub fn up(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for OutageProxy {
    fn drop(&mut self) {
        self.down();
        self.task.abort();
    }
}
