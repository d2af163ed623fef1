use std::{io, sync::Arc, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::*;

fn gate(max_connections: usize) -> (Arc<Gate>, ClosedCounters) {
    let closed = ClosedCounters::default();
    let gate = Gate::new(
        ConnectionLimits {
            max_connections,
            header_read_timeout: Duration::from_secs(10),
        },
        closed.clone(),
    );
    (gate, closed)
}

/// A guarded connection and the peer's end of it.
fn connect(admission: Admission) -> (Guarded<DuplexStream>, DuplexStream) {
    let (server, peer) = duplex(4096);
    (admission.guard(server), peer)
}

async fn read_some(connection: &mut Guarded<DuplexStream>) -> io::Result<Vec<u8>> {
    let mut buf = [0; 256];
    let n = connection.read(&mut buf).await?;
    Ok(buf[..n].to_vec())
}

#[tokio::test]
async fn past_the_cap_the_oldest_connection_without_a_request_gives_way() {
    let (gate, closed) = gate(2);
    let (mut slow, _slow_peer) = connect(gate.admit().expect("room"));
    let (mut quick, mut quick_peer) = connect(gate.admit().expect("room"));
    quick_peer
        .write_all(b"GET /health HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    assert!(!read_some(&mut quick).await.expect("read").is_empty());

    // Full: the newcomer takes the slow connection's place, not the quick one's.
    let newcomer = gate.admit().expect("a slow connection gives way");
    assert_eq!(closed.shed.get(), 1);
    assert_eq!(gate.open(), 2);
    let error = read_some(&mut slow).await.expect_err("shed");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
    drop(slow);
    assert_eq!(
        gate.open(),
        2,
        "a shed connection's place went to the newcomer"
    );

    // The newcomer sends its head in time too: now nobody gives way.
    let (mut newcomer, mut newcomer_peer) = connect(newcomer);
    newcomer_peer
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    read_some(&mut newcomer).await.expect("read");
    assert!(gate.admit().is_none());
    assert_eq!(closed.limit.get(), 1);

    // A closed connection frees its place.
    drop(quick);
    assert_eq!(gate.open(), 1);
    assert!(gate.admit().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_head_that_does_not_arrive_in_time_closes_the_connection() {
    let (gate, closed) = gate(8);
    let (mut connection, mut peer) = connect(gate.admit().expect("room"));
    // Slowloris: part of a head, then nothing more.
    peer.write_all(b"GET / HTTP/1.1\r\nX-a: b\r\n")
        .await
        .expect("write");
    read_some(&mut connection).await.expect("the first bytes");
    let error = read_some(&mut connection).await.expect_err("timed out");
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert_eq!(closed.header_timeout.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_sent_its_head_may_then_stay_quiet() {
    let (gate, closed) = gate(8);
    let (mut connection, mut peer) = connect(gate.admit().expect("room"));
    peer.write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    read_some(&mut connection).await.expect("the head");
    let quiet = tokio::time::timeout(Duration::from_secs(60), read_some(&mut connection)).await;
    assert!(quiet.is_err(), "still open, waiting for the next request");
    assert_eq!(closed.header_timeout.get(), 0);
}

#[tokio::test]
async fn a_shed_admission_wakes_a_handshake_waiting_on_it() {
    let (gate, _closed) = gate(1);
    let first = gate.admit().expect("room");
    let waiting = tokio::spawn(async move { first.shed().await });
    let _second = gate.admit().expect("the first gives way");
    waiting.await.expect("the handshake is told to stop");
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_cap_fits_the_listeners_into_the_descriptor_limit() {
    let limit = descriptor_limit().expect("known on this platform");
    let fitted = fit_to_descriptors(usize::MAX, 2, 100);
    assert_eq!(fitted as u64, (limit - 100) / 2);
    assert_eq!(fit_to_descriptors(5, 2, 100), 5);
}

#[test]
fn closed_connections_do_not_linger_in_the_queue() {
    let (gate, _closed) = gate(1000);
    let admissions: Vec<Admission> = (0..100).map(|_| gate.admit().expect("room")).collect();
    drop(admissions);
    assert_eq!(gate.open(), 0);
    let waiting = gate.waiting();
    assert!(waiting <= 16, "{waiting} finished connections still queued");
}
