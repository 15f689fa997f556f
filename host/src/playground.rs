//! `postwire playground`: serve the browser playground's static files, embedded at build time,
//! on 127.0.0.1. The page runs the engine in the browser; this server only hands out files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

include!(concat!(env!("OUT_DIR"), "/playground.rs"));

/// The embedded files as `(path, bytes)`, or `None` when this runner was built with
/// `POSTWIRE_PLAYGROUND=off`.
pub fn files() -> Option<&'static [(&'static str, &'static [u8])]> {
    PLAYGROUND
}

/// The Content-Type of a file name.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Bind 127.0.0.1:`port` (0: any free port).
pub fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
}

/// At most this many connections are answered at once; more are closed at once.
const MAX_CONNECTIONS: usize = 32;
/// A request's line and headers must arrive within this time, and fit in this many bytes.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
const MAX_REQUEST_HEAD: u64 = 16 * 1024;

/// Serve `files` on `listener` until the process ends. Each connection has a thread of its
/// own, a deadline for its whole request and a bound on its size, so a slow or hostile client
/// delays nobody else; at most [`MAX_CONNECTIONS`] are open at once.
pub fn serve(listener: TcpListener, files: &'static [(&'static str, &'static [u8])]) {
    let open = Arc::new(AtomicUsize::new(0));
    let port = listener.local_addr().map_or(0, |a| a.port());
    for stream in listener.incoming().flatten() {
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            drop(stream);
            continue;
        }
        let open = Arc::clone(&open);
        std::thread::spawn(move || {
            // A client that goes away mid-request is its own problem, not the server's.
            let _ = answer(stream, files, port);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// The request line and the `Host` header, read within [`REQUEST_DEADLINE`] and
/// [`MAX_REQUEST_HEAD`] bytes; None when the client is too slow or too long-winded.
fn read_head(stream: &TcpStream) -> std::io::Result<Option<(String, Option<String>)>> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut reader = BufReader::new(stream.try_clone()?.take(MAX_REQUEST_HEAD));
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left))?;
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) if !line.ends_with('\n') => return Ok(None),
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => lines.push(line),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
    let Some(request_line) = lines.first().cloned() else { return Ok(None) };
    let host = lines[1..].iter().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("host").then(|| value.trim().to_string())
    });
    Ok(Some((request_line, host)))
}

/// Whether a `Host` header names this loopback server: a page on another site that resolves
/// its own name to 127.0.0.1 (DNS rebinding) is refused.
fn is_loopback_host(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else { return false };
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host == *name || host == format!("{name}:{port}"))
}

fn answer(mut stream: TcpStream, files: &[(&str, &[u8])], port: u16) -> std::io::Result<()> {
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let Some((request_line, host)) = read_head(&stream)? else {
        return respond(&mut stream, "GET", "400 Bad Request", "text/plain; charset=utf-8", b"bad request\n");
    };
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !is_loopback_host(host.as_deref(), port) {
        return respond(&mut stream, method, "403 Forbidden", "text/plain; charset=utf-8", b"loopback only\n");
    }
    let path = target.split(['?', '#']).next().unwrap_or("").trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let found = files.iter().find(|(name, _)| *name == path);
    let (status, kind, body): (&str, &str, &[u8]) = match (method, found) {
        ("GET" | "HEAD", Some((name, bytes))) => ("200 OK", content_type(name), bytes),
        ("GET" | "HEAD", None) => ("404 Not Found", "text/plain; charset=utf-8", b"not found\n"),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", b"only GET\n"),
    };
    respond(&mut stream, method, status, kind, body)
}

fn respond(stream: &mut TcpStream, method: &str, status: &str, kind: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    static FILES: &[(&str, &[u8])] = &[("index.html", b"<p>hi</p>")];

    fn server() -> u16 {
        let listener = bind(0).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || serve(listener, FILES));
        port
    }

    fn get(port: u16, request: &[u8]) -> String {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(request).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    }

    #[test]
    fn a_slow_client_blocks_nobody_else() {
        let port = server();
        // Connected, sending nothing: the old server waited 10 s on it before anyone else.
        let _slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let started = Instant::now();
        let got = get(port, format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes());
        assert!(got.starts_with("HTTP/1.1 200 OK") && got.ends_with("<p>hi</p>"), "{got}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[test]
    fn endless_header_lines_are_cut_off() {
        let port = server();
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nX-Long: ").unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        // The server stops reading after 16 KiB and answers 400; writes may then fail.
        let _ = c.write_all(&chunk);
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        assert!(out.is_empty() || out.starts_with("HTTP/1.1 400"), "{out}");
    }

    #[test]
    fn other_host_names_are_refused() {
        let port = server();
        let got = get(port, b"GET / HTTP/1.1\r\nHost: attacker.example:80\r\n\r\n");
        assert!(got.starts_with("HTTP/1.1 403"), "{got}");
        let got = get(port, format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n").as_bytes());
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    }
}
