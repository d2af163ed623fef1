//! `follow-bench`: what a follow costs. The real server (writes on) and the
//! real client, on a store; followers through the client's `GET /follow`,
//! each writing its own file; a producer appending at a steady rate through
//! `Append`. The lag of a batch is from its ack (the commit acknowledged) to
//! its last book being in a follower's file, as a reader of the file sees
//! it. A second scenario holds many idle followers straight over gRPC and
//! reports the server's memory and how fast one append reaches them all.

use std::{
    collections::HashMap,
    io::Read,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bookstream::{
    RecommendationRequest, StartFrom,
    pb::{AppendRequest, NewBook, recommendations_client::RecommendationsClient},
    ready,
};
use bookstream_server::source::CatalogSpec;
use tonic::{Request, metadata::MetadataValue, transport::Channel};

use crate::{pair::USER_ID, processes::Process};

const WRITE_TOKEN: &str = "follow-bench-writes";

/// One scenario's lags, in milliseconds, sorted.
#[derive(Debug, Clone)]
pub struct Lags(Vec<f64>);

impl Lags {
    pub fn new(mut lags: Vec<f64>) -> Self {
        lags.sort_by(f64::total_cmp);
        Self(lags)
    }

    /// The `q` quantile (0..=1), nearest rank.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }
}

/// A server with writes on, on `catalog`.
pub async fn start_server(
    bin_dir: &Path,
    catalog: &CatalogSpec,
    max_streams: u64,
) -> anyhow::Result<(Process, String, String)> {
    let envs = [
        ("BOOKSTREAM_CATALOG", catalog.reveal()),
        ("BOOKSTREAM_WRITE_TOKEN", WRITE_TOKEN.to_owned()),
        ("BOOKSTREAM_MAX_STREAMS", max_streams.to_string()),
    ];
    let (server, line) = Process::start(
        bin_dir,
        "server",
        &["--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0"],
        &envs,
        ready::SERVER_PREFIX,
    )
    .await
    .with_context(|| format!("starting a server on {catalog}"))?;
    let (grpc, rest) = ready::parse_line(&line).context("reading the server's addresses")?;
    Ok((server, format!("http://{grpc}"), format!("http://{rest}")))
}

/// A client on `server_url` whose follows write into `dir`; its base URL.
pub async fn start_client(
    bin_dir: &Path,
    server_url: &str,
    dir: &Path,
    max_runs: usize,
) -> anyhow::Result<(Process, String)> {
    let output = dir.join("follow-{run}.txt").to_string_lossy().into_owned();
    let envs = [
        ("BOOKSTREAM_MAX_RUNS", max_runs.to_string()),
        (
            "BOOKSTREAM_HISTORY",
            dir.join("runs.jsonl").to_string_lossy().into_owned(),
        ),
    ];
    let (client, line) = Process::start(
        bin_dir,
        "client",
        &[
            "--listen",
            "127.0.0.1:0",
            "--server",
            server_url,
            "--output",
            &output,
        ],
        &envs,
        ready::CLIENT_PREFIX.trim_end(),
    )
    .await?;
    let base = ready::parse_client_line(&line)
        .context("reading the client's address")?
        .to_owned();
    Ok((client, base))
}

/// Streams the server has open now (its `/health`).
pub async fn active_streams(http: &reqwest::Client, rest_url: &str) -> anyhow::Result<u64> {
    let health: serde_json::Value = http
        .get(format!("{rest_url}/health"))
        .send()
        .await?
        .json()
        .await?;
    health["active_streams"]
        .as_u64()
        .context("the health answer has active_streams")
}

/// Waits until the server has `count` streams open.
pub async fn await_streams(
    http: &reqwest::Client,
    rest_url: &str,
    count: u64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while active_streams(http, rest_url).await? < count {
        if Instant::now() > deadline {
            bail!("the server never had {count} streams open");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Appends to user 1's list through one `Append` call: `batches` batches of
/// `size` books, one every `every`, titled `s<sequence>`; the ack time of each.
pub async fn produce(
    server_url: &str,
    producer: &str,
    batches: u64,
    size: u64,
    every: Duration,
) -> anyhow::Result<HashMap<u64, Instant>> {
    let channel = Channel::from_shared(server_url.to_owned())?
        .connect()
        .await?;
    let (sender, outgoing) = tokio::sync::mpsc::channel::<AppendRequest>(64);
    let mut call = Request::new(tokio_stream::wrappers::ReceiverStream::new(outgoing));
    call.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {WRITE_TOKEN}"))?,
    );
    let producer = producer.to_owned();
    let pace = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        for sequence in 1..=batches {
            tick.tick().await;
            let books = (0..size)
                .map(|i| NewBook {
                    title: format!("s{sequence} {i}"),
                    author: "follow-bench".to_owned(),
                    isbn13: String::new(),
                    year: 2026,
                    genre: "Bench".to_owned(),
                    score: 0.5,
                })
                .collect();
            let batch = AppendRequest {
                producer_id: producer.clone(),
                sequence,
                user_id: USER_ID,
                books,
            };
            if sender.send(batch).await.is_err() {
                break;
            }
        }
    });
    let mut acks = RecommendationsClient::new(channel)
        .append(call)
        .await?
        .into_inner();
    let mut acked = HashMap::new();
    while let Some(ack) = acks.message().await? {
        acked.insert(ack.sequence, Instant::now());
        if ack.sequence == batches {
            break;
        }
    }
    pace.await?;
    if acked.len() as u64 != batches {
        bail!(
            "only {} of {batches} batches were acknowledged",
            acked.len()
        );
    }
    Ok(acked)
}

/// Watches follow files grow, as `tail -f` would: when the last book of
/// each batch (`size` books, titled `s<sequence> <i>`) is first seen in each.
pub struct Watcher {
    seen: Arc<Mutex<Vec<HashMap<u64, Instant>>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    pub fn start(files: Vec<PathBuf>, size: u64) -> Self {
        let seen = Arc::new(Mutex::new(vec![HashMap::new(); files.len()]));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen_in, stop_in) = (seen.clone(), stop.clone());
        let last = format!(" {}", size - 1);
        let thread = std::thread::spawn(move || {
            let mut open: Vec<Option<std::fs::File>> = files.iter().map(|_| None).collect();
            let mut pending: Vec<String> = files.iter().map(|_| String::new()).collect();
            let mut chunk = Vec::new();
            while !stop_in.load(std::sync::atomic::Ordering::Relaxed) {
                for (index, path) in files.iter().enumerate() {
                    let file = match &mut open[index] {
                        Some(file) => file,
                        None => match std::fs::File::open(path) {
                            Ok(file) => open[index].insert(file),
                            Err(_) => continue,
                        },
                    };
                    chunk.clear();
                    if file.read_to_end(&mut chunk).is_err() || chunk.is_empty() {
                        continue;
                    }
                    let now = Instant::now();
                    pending[index].push_str(&String::from_utf8_lossy(&chunk));
                    let text = std::mem::take(&mut pending[index]);
                    let (whole, torn) = text.rsplit_once('\n').unwrap_or(("", &text));
                    pending[index] = torn.to_owned();
                    let mut seen = seen_in.lock().unwrap_or_else(PoisonError::into_inner);
                    for line in whole.lines() {
                        // `rank, s<sequence> <i>`
                        let Some((_, title)) = line.split_once(", s") else {
                            continue;
                        };
                        if let Some(sequence) = title.strip_suffix(&last)
                            && let Ok(sequence) = sequence.parse()
                        {
                            seen[index].entry(sequence).or_insert(now);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Self {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops watching; what each file showed and when.
    pub fn finish(mut self) -> Vec<HashMap<u64, Instant>> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Batches seen in every file so far.
    pub fn seen_everywhere(&self) -> usize {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.iter().map(HashMap::len).min().unwrap_or(0)
    }
}

/// The lag of every batch in every file: from its ack to its last book seen.
/// A book can be in a file before its ack is back at the producer: that lag is 0.
pub fn lags(acked: &HashMap<u64, Instant>, seen: &[HashMap<u64, Instant>]) -> anyhow::Result<Lags> {
    let mut lags = Vec::new();
    for (index, file) in seen.iter().enumerate() {
        for (sequence, ack) in acked {
            let at = file
                .get(sequence)
                .with_context(|| format!("follower {index} never showed batch {sequence}"))?;
            lags.push(at.saturating_duration_since(*ack).as_secs_f64() * 1000.0);
        }
    }
    Ok(Lags::new(lags))
}

/// Idle follows: the instants each got each book; they end when dropped.
pub struct IdleFollowers {
    pub arrivals: Vec<tokio::sync::mpsc::UnboundedReceiver<Instant>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for IdleFollowers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// `count` idle follows of user 1 from the latest book, straight over gRPC
/// on `connections` connections; each reports the instant it got each book.
pub async fn idle_followers(
    server_url: &str,
    count: usize,
    connections: usize,
) -> anyhow::Result<IdleFollowers> {
    let mut channels = Vec::new();
    for _ in 0..connections.max(1) {
        channels.push(
            Channel::from_shared(server_url.to_owned())?
                .connect()
                .await?,
        );
    }
    let mut arrivals = Vec::with_capacity(count);
    let mut tasks = Vec::with_capacity(count);
    for index in 0..count {
        let mut client = RecommendationsClient::new(channels[index % channels.len()].clone());
        let request = RecommendationRequest {
            user_id: USER_ID,
            follow: true,
            start_from: StartFrom::Latest as i32,
            ..Default::default()
        };
        let mut stream = client.recommend(request).await?.into_inner();
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(_)) = stream.message().await {
                if sender.send(Instant::now()).is_err() {
                    break;
                }
            }
        }));
        arrivals.push(receiver);
    }
    Ok(IdleFollowers { arrivals, tasks })
}

/// One follow of user 1 from the latest book over gRPC that reads no faster
/// than `books_per_second` until `books` came; the instant it got the last.
pub async fn slow_follower(
    server_url: &str,
    books: u64,
    books_per_second: u64,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<Instant>>> {
    let channel = Channel::from_shared(server_url.to_owned())?
        .connect()
        .await?;
    let request = RecommendationRequest {
        user_id: USER_ID,
        follow: true,
        start_from: StartFrom::Latest as i32,
        max_results: books,
        ..Default::default()
    };
    let mut stream = RecommendationsClient::new(channel)
        .recommend(request)
        .await?
        .into_inner();
    const STEP: u64 = 1_000;
    let pause = Duration::from_secs_f64(STEP as f64 / books_per_second as f64);
    Ok(tokio::spawn(async move {
        let mut got = 0;
        while let Some(_book) = stream.message().await? {
            got += 1;
            if got % STEP == 0 {
                tokio::time::sleep(pause).await;
            }
        }
        if got != books {
            bail!("the slow follower got {got} of {books} books");
        }
        Ok(Instant::now())
    }))
}
