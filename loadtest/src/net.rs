//! Sockets: WebSocket connections bound to a chosen loopback source address, and a minimal
//! HTTP/1.1 client for the few REST calls the harness makes (login, agent creation, /metrics).
//!
//! Binding source addresses is how one machine opens more client sockets to one server port than
//! the ~28k ephemeral ports of a single (source, destination) pair allow. `IP_BIND_ADDRESS_NO_PORT`
//! defers the port choice to `connect`, so the kernel picks a port free for this destination.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
/// None when the target is not loopback (binding a 127/8 source to reach it would fail).
pub fn source_ips(target: SocketAddr, index: usize, count: u8) -> Vec<IpAddr> {
    if !target.ip().is_loopback() || !target.is_ipv4() {
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

/// An HTTP response: status and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// One HTTP/1.1 request with `Connection: close`; enough for JSON APIs and /metrics.
pub async fn http(
    target: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    tokio::time::timeout(timeout, http_inner(target, method, path, bearer, json_body))
        .await
        .map_err(|_| format!("{method} {path}: timed out"))?
}

async fn http_inner(
    target: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&str>,
) -> Result<HttpResponse, String> {
    let mut s = TcpStream::connect(target)
        .await
        .map_err(|e| format!("{method} {path}: connect: {e}"))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n");
    if let Some(t) = bearer {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = json_body.unwrap_or("");
    if json_body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("{method} {path}: write: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .await
        .map_err(|e| format!("{method} {path}: read: {e}"))?;
    parse_response(&raw).map_err(|e| format!("{method} {path}: {e}"))
}

/// Parse a complete HTTP/1.1 response (Content-Length, chunked, or read-to-close).
pub fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if k == "content-length" {
            length = v.parse::<usize>().ok();
        }
    }
    let rest = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk header")?;
        let size_text = std::str::from_utf8(&b[..eol]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).ok_or("chunk shorter than its size")?);
        b = b.get(size + 2..).ok_or("chunk without CRLF")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        let r = parse_response(
            b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (401, "abcde"));
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_err());
    }

    #[test]
    fn source_ips_only_for_loopback_targets() {
        let lo: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let ips = source_ips(lo, 1, 3);
        assert_eq!(ips.len(), 3);
        assert_eq!(ips[0], "127.0.2.2".parse::<IpAddr>().unwrap());
        assert!(source_ips("10.0.0.1:80".parse().unwrap(), 0, 3).is_empty());
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
