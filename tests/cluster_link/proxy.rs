//! A fault-injecting TCP proxy for link tests (`tc netem` is not available here): put it between
//! two nodes and switch its [`Mode`] to delay, black-hole, stall or cut their traffic.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass every byte through.
    Forward,
    /// Hold every chunk this long before passing it on (order kept).
    Delay(Duration),
    /// Read and discard both ways: connections stay open, nothing arrives (a half-open link).
    BlackHole,
    /// Stop reading from the dialing side, so its socket buffers fill and its writes block;
    /// the other direction still flows.
    StallUpstream,
    /// Close every connection and refuse new ones.
    Cut,
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, rx) = watch::channel(Mode::Forward);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let now = *rx.borrow();
                if now == Mode::Cut {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, true, rx.clone()));
                tokio::spawn(pump(server_read, client_write, false, rx.clone()));
            }
        });
        Proxy { addr, mode, accept }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Pumps end when they see the mode sender gone.
        self.accept.abort();
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    upstream: bool,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Cut => return,
            Mode::StallUpstream if upstream => {
                if mode.changed().await.is_err() {
                    return;
                }
                continue;
            }
            _ => {}
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return hold_if_black_holed(mode).await,
                Ok(n) => n,
            },
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let now = *mode.borrow();
        match now {
            Mode::Cut => return,
            Mode::BlackHole => continue,
            Mode::Delay(d) => tokio::time::sleep(d).await,
            _ => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A black hole swallows closes too: keep the other side's connection open (no FIN reaches it)
/// until the mode changes.
async fn hold_if_black_holed(mut mode: watch::Receiver<Mode>) {
    while *mode.borrow_and_update() == Mode::BlackHole {
        if mode.changed().await.is_err() {
            return;
        }
    }
}
