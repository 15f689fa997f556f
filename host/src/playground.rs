//! `postwire playground`: serve the browser playground's static files, embedded at build time,
//! on 127.0.0.1. The page runs the engine in the browser; this server only hands out files.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

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

/// Serve `files` on `listener` until the process ends, one connection at a time (the page
/// loads a handful of files once).
pub fn serve(listener: TcpListener, files: &'static [(&'static str, &'static [u8])]) {
    for stream in listener.incoming().flatten() {
        // A client that goes away mid-request is its own problem, not the server's.
        let _ = answer(stream, files);
    }
}

fn answer(mut stream: TcpStream, files: &[(&str, &[u8])]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split(['?', '#']).next().unwrap_or("").trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let found = files.iter().find(|(name, _)| *name == path);
    let (status, kind, body): (&str, &str, &[u8]) = match (method, found) {
        ("GET" | "HEAD", Some((name, bytes))) => ("200 OK", content_type(name), bytes),
        ("GET" | "HEAD", None) => ("404 Not Found", "text/plain; charset=utf-8", b"not found\n"),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", b"only GET\n"),
    };
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
