//! A slowloris: many connections that each send part of a request head and
//! then nothing, the way an attacker ties up a listener; and a process
//! started under a low file-descriptor limit, where such a flood hurts most.

use std::{net::SocketAddr, time::Duration};

use tokio::{io::AsyncWriteExt, net::TcpStream};

/// The start of an HTTP/1 request head, never finished.
pub const HTTP1_PARTIAL: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
/// The HTTP/2 preface and half a frame header: what a slow gRPC caller sends.
pub const HTTP2_PARTIAL: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00";

/// Opens `count` connections to `addr`, each sending `partial` and then
/// staying silent; connections the listener refused or shed are kept too
/// (they count as the attacker's effort).
pub async fn flood(addr: SocketAddr, count: usize, partial: &[u8]) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            continue;
        };
        let _ = stream.write_all(partial).await;
        held.push(stream);
    }
    held
}

/// Waits until the peer closes `stream` (EOF or reset), at most `within`;
/// false if it is still open then.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0; 64];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// Runs the command's program with at most `descriptors` open files (soft
/// and hard limit), as under `ulimit -n`.
pub fn limit_descriptors(command: &mut tokio::process::Command, descriptors: u64) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: descriptors,
                rlim_max: descriptors,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}
