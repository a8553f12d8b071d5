//! Sockets: WebSocket connections bound to a chosen loopback source address. (HTTP, for the
//! few REST calls and /metrics, is reqwest in `api.rs`: it needs no source binding.)
//!
//! Binding source addresses is how one machine opens more client sockets to one server port than
//! the ~28k ephemeral ports of a single (source, destination) pair allow. `IP_BIND_ADDRESS_NO_PORT`
//! defers the port choice to `connect`, so the kernel picks a port free for this destination.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// The client's WebSocket buffers: 4 KiB read buffer (tungstenite's default is 128 KiB, zeroed on
/// first read), frames up to the server's 64 KiB limit.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Source addresses for worker `index`: `count` consecutive addresses from 127.0.(index+1).2.
/// None unless every target is IPv4 loopback (binding a 127/8 source to reach another address
/// would fail, and one client may reach any target).
pub fn source_ips(targets: &[SocketAddr], index: usize, count: u8) -> Vec<IpAddr> {
    if targets.is_empty()
        || targets
            .iter()
            .any(|t| !t.ip().is_loopback() || !t.is_ipv4())
    {
        return Vec::new();
    }
    (0..count)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, (index % 250) as u8 + 1, 2 + i)))
        .collect()
}

/// TCP connect, bound to `source` when given.
pub async fn tcp_connect(target: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(src) = source else {
        let s = TcpStream::connect(target).await?;
        s.set_nodelay(true)?;
        return Ok(s);
    };
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    set_bind_no_port(&socket);
    socket.bind(&SocketAddr::new(src, 0).into())?;
    let std_stream: std::net::TcpStream = socket.into();
    let tokio_socket = tokio::net::TcpSocket::from_std_stream(std_stream);
    tokio_socket.connect(target).await
}

#[cfg(target_os = "linux")]
fn set_bind_no_port(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid fd and a c_int option value of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn set_bind_no_port(_socket: &Socket) {}

/// Open `ws://target/ws` from `source`.
pub async fn ws_connect(target: SocketAddr, source: Option<IpAddr>) -> Result<Ws, String> {
    let tcp = tcp_connect(target, source)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let url = format!("ws://{target}/ws");
    let (ws, _resp) = tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config()))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ips_only_for_loopback_targets() {
        let lo: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let lo2: SocketAddr = "127.0.0.1:81".parse().unwrap();
        let ips = source_ips(&[lo, lo2], 1, 3);
        assert_eq!(ips.len(), 3);
        assert_eq!(ips[0], "127.0.2.2".parse::<IpAddr>().unwrap());
        let remote: SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert!(source_ips(&[remote], 0, 3).is_empty());
        assert!(source_ips(&[lo, remote], 0, 3).is_empty());
    }

    #[tokio::test]
    async fn binds_the_source_address() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let src: IpAddr = "127.0.3.7".parse().unwrap();
        let c = tcp_connect(addr, Some(src)).await.unwrap();
        assert_eq!(c.local_addr().unwrap().ip(), src);
        let (_s, peer) = l.accept().await.unwrap();
        assert_eq!(peer.ip(), src);
    }
}
