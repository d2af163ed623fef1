//! Every run the client made: the ones running now (with their live
//! progress, and a way to stop them) and the ones that ended (as records,
//! kept in the history file across restarts, newest `--history-limit`).

pub mod chart;
pub mod history;
pub mod live;
pub mod pages;
pub mod record;
mod recording;
mod recover;
pub mod routes;
pub mod samples;
pub mod watchers;
pub mod written;

pub use written::FileGone;

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use history::History;
use live::Live;
use record::{Outcome, RunRecord, RunSettings};
use samples::TICK_MS;

use crate::{
    run::{self, RunError, RunRequest, RunSummary},
    sink::partial_path,
    upstream::Upstream,
};

/// The runs; cheap to clone.
#[derive(Debug, Clone)]
pub struct Runs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    history: Option<History>,
    next_id: AtomicU64,
    limit: usize,
    /// The directory every run's file lies under; no file elsewhere is served.
    base: PathBuf,
    watchers: Arc<watchers::Watchers>,
}

#[derive(Debug, Default)]
struct State {
    running: BTreeMap<u64, Running>,
    finished: BTreeMap<u64, Arc<RunRecord>>,
    /// For each file, the run whose books it holds now.
    owners: HashMap<PathBuf, u64>,
}

#[derive(Debug)]
struct Running {
    live: Arc<Live>,
    /// What is known from the start: who, how many, where, how.
    start: Arc<RunRecord>,
}

/// One run, as a page sees it.
#[derive(Debug, Clone)]
pub enum RunView {
    Running {
        record: Box<RunRecord>,
        live: Arc<Live>,
    },
    Finished(Arc<RunRecord>),
}

impl RunView {
    pub fn record(&self) -> &RunRecord {
        match self {
            RunView::Running { record, .. } => record,
            RunView::Finished(record) => record,
        }
    }
}

/// Why a run could not be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    #[error("there is no run {0}")]
    Unknown(u64),
    #[error("run {0} has already ended ({1})")]
    Finished(u64, &'static str),
}

impl Runs {
    /// The runs of `history` (newest `limit` kept), or none kept on disk.
    pub fn open(
        history: Option<&Path>,
        limit: usize,
        base: &Path,
        watch: watchers::WatchLimits,
    ) -> Result<Self, history::HistoryError> {
        let (history, loaded) = match history {
            Some(path) => {
                let (history, loaded) = History::open(path, limit)?;
                (Some(history), loaded)
            }
            None => (None, Vec::new()),
        };
        let mut state = State::default();
        let mut recovered = Vec::new();
        for mut record in loaded {
            if recover::recover(&mut record) {
                recovered.push(record.clone());
            }
            if let Some(file) = owned_file(&record) {
                if written::is_under(&file, base) {
                    state.owners.insert(file, record.id);
                } else {
                    tracing::warn!(
                        run = record.id,
                        file = %file.display(),
                        "a run history line names a file outside the output's directory: it is never served"
                    );
                }
            }
            state.finished.insert(record.id, Arc::new(record));
        }
        let next_id = state.finished.keys().next_back().map_or(1, |last| last + 1);
        let runs = Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                history,
                next_id: AtomicU64::new(next_id),
                limit: limit.max(1),
                base: base.to_owned(),
                watchers: watchers::Watchers::new(watch),
            }),
        };
        // What the dead runs had received, for the next start too.
        for record in &recovered {
            runs.append(record);
        }
        Ok(runs)
    }

    /// The event streams open now, and their caps.
    pub fn watchers(&self) -> &Arc<watchers::Watchers> {
        &self.inner.watchers
    }

    /// The next run's id.
    pub fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Starts the run `id` of `request` on its own task: a caller who leaves
    /// does not stop it, only [`Self::stop`] does. The task also samples the
    /// run's progress every tick; the handle gives the run's result.
    pub fn start(
        &self,
        id: u64,
        request: RunRequest,
        settings: RunSettings,
        upstream: Upstream,
        span: tracing::Span,
        on_end: impl FnOnce(&Result<RunSummary, RunError>) + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<RunSummary, RunError>> {
        let (live, start) = self.begin(id, &request, settings);
        let runs = self.clone();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                runs.record(start).await;
                let result = {
                    let run = run::run(&upstream, &request, &*live);
                    tokio::pin!(run);
                    let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));
                    ticks.tick().await;
                    loop {
                        tokio::select! {
                            result = &mut run => break result,
                            _ = ticks.tick() => live.tick(),
                        }
                    }
                };
                live.tick();
                on_end(&result);
                if let Some(record) = runs.finish(id, &result) {
                    runs.record(record).await;
                }
                result
            },
            span,
        ))
    }

    /// Makes run `id` a running run; gives its start, for the history.
    fn begin(
        &self,
        id: u64,
        request: &RunRequest,
        settings: RunSettings,
    ) -> (Arc<Live>, Arc<RunRecord>) {
        let live = Arc::new(Live::new(id, request.count));
        let start = Arc::new(recording::started(id, request, settings));
        self.lock().running.insert(
            id,
            Running {
                live: live.clone(),
                start: start.clone(),
            },
        );
        (live, start)
    }

    /// Makes run `id` a run that ended as `result` says; gives its record,
    /// for the history.
    fn finish(&self, id: u64, result: &Result<RunSummary, RunError>) -> Option<Arc<RunRecord>> {
        // It stays running until its record replaces it: a page asked for
        // meanwhile finds one or the other.
        let (live, start) = self
            .lock()
            .running
            .get(&id)
            .map(|running| (running.live.clone(), running.start.clone()))?;
        let record = recording::ended(&start, &live, result);
        let record = Arc::new(record);
        {
            let mut state = self.lock();
            state.running.remove(&id);
            if let Some(file) = owned_file(&record) {
                state.owners.insert(file, id);
            }
            state.finished.insert(id, record.clone());
            while state.finished.len() > self.inner.limit {
                // A run the history forgets owns no file any more: the map
                // stays as small as the history.
                if let Some((_, forgotten)) = state.finished.pop_first()
                    && let Some(file) = owned_file(&forgotten)
                    && state.owners.get(&file) == Some(&forgotten.id)
                {
                    state.owners.remove(&file);
                }
            }
        }
        // Only now is the end told: a page reloaded on it finds the record.
        live.finish(&record);
        Some(record)
    }

    /// Run `id`, running or ended.
    pub fn get(&self, id: u64) -> Option<RunView> {
        let state = self.lock();
        if let Some(running) = state.running.get(&id) {
            return Some(RunView::Running {
                record: Box::new(recording::now(&running.start, &running.live)),
                live: running.live.clone(),
            });
        }
        state.finished.get(&id).cloned().map(RunView::Finished)
    }

    /// Every run, newest first.
    pub fn list(&self) -> Vec<RunRecord> {
        let state = self.lock();
        let mut runs: Vec<RunRecord> = state
            .running
            .values()
            .map(|running| recording::now(&running.start, &running.live))
            .collect();
        runs.extend(state.finished.values().map(|record| (**record).clone()));
        runs.sort_by_key(|run| std::cmp::Reverse(run.id));
        runs
    }

    /// Asks run `id` to stop; it ends as `cancelled`, keeping what arrived.
    pub fn stop(&self, id: u64) -> Result<(), StopError> {
        let state = self.lock();
        if let Some(running) = state.running.get(&id) {
            running.live.stop();
            return Ok(());
        }
        match state.finished.get(&id) {
            Some(record) => Err(StopError::Finished(id, record.outcome.name())),
            None => Err(StopError::Unknown(id)),
        }
    }

    /// The file holding run `id`'s books, opened, while it still is the
    /// file that run wrote; or why not.
    pub fn file(&self, id: u64) -> Result<(PathBuf, std::fs::File), FileGone> {
        let state = self.lock();
        if state.running.contains_key(&id) {
            return Err(FileGone::Running);
        }
        let record = state.finished.get(&id).ok_or(FileGone::Unknown)?;
        let path = owned_file(record).ok_or(FileGone::NoFile(record.outcome.name()))?;
        if let Some(&owner) = state.owners.get(&path)
            && owner != id
        {
            return Err(FileGone::Replaced(owner));
        }
        match written::open(
            &path,
            record.file_bytes,
            record.file_written,
            &self.inner.base,
        ) {
            Ok(file) => Ok((path, file)),
            Err(written::Mismatch::Changed) => Err(FileGone::Changed),
            Err(written::Mismatch::Missing) => Err(FileGone::Deleted),
            Err(written::Mismatch::Outside) => Err(FileGone::Outside),
        }
    }

    /// [`Self::append`], on the blocking pool: a compaction rewrites and
    /// syncs the whole file.
    async fn record(&self, record: Arc<RunRecord>) {
        let runs = self.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || runs.append(&record)).await {
            tracing::error!("recording a run in the history failed: {error}");
        }
    }

    /// Records `record` in the history. Its run must be in the state already:
    /// an append that compacts the history rewrites it from the state.
    fn append(&self, record: &RunRecord) {
        let Some(history) = &self.inner.history else {
            return;
        };
        match history.append(record) {
            Ok(lines) if lines > 2 * self.inner.limit => {
                if let Err(error) = history.compact(|| self.kept()) {
                    tracing::warn!(history = %history.path().display(), "compacting the run history failed: {error}");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(
                history = %history.path().display(),
                "recording run {} in the history failed: {error}", record.id
            ),
        }
    }

    /// The runs the history keeps: those that ended, and those running.
    fn kept(&self) -> Vec<Arc<RunRecord>> {
        let state = self.lock();
        state
            .finished
            .values()
            .cloned()
            .chain(state.running.values().map(|running| running.start.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The file a finished run's books are in, if it left one.
fn owned_file(record: &RunRecord) -> Option<PathBuf> {
    let file = PathBuf::from(&record.file);
    match record.outcome {
        Outcome::Complete | Outcome::Stopped => Some(file),
        Outcome::Partial | Outcome::Cancelled if record.received > 0 => Some(partial_path(&file)),
        _ => None,
    }
}

/// `--output` with its placeholders filled in: `{run}`, `{user}`, `{n}`.
pub fn output_path(template: &Path, run: u64, user_id: u64, n: u64) -> PathBuf {
    let text = template.to_string_lossy();
    if !text.contains('{') {
        return template.to_owned();
    }
    PathBuf::from(
        text.replace("{run}", &run.to_string())
            .replace("{user}", &user_id.to_string())
            .replace("{n}", &n.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{run::RetryPolicy, sink::Format, upstream::UpstreamError};

    fn request() -> RunRequest {
        RunRequest {
            run_id: 1,
            user_id: 1,
            count: 10,
            output: PathBuf::from("books.txt"),
            format: Format::Txt,
            echo: false,
            retry: RetryPolicy {
                retries: 0,
                first_backoff: Duration::ZERO,
            },
            idle_timeout: Duration::from_secs(1),
            follow: None,
            first_rank: 0,
        }
    }

    fn settings() -> RunSettings {
        RunSettings {
            format: "txt".to_owned(),
            retries: 0,
            retry_backoff_ms: 0,
            idle_timeout_ms: 1000,
            servers: "http://127.0.0.1:50051".to_owned(),
        }
    }

    const START: bool = false;
    const END: bool = true;

    /// The runs a client restarted now would find in `path`, and whether
    /// each had ended or was still running.
    fn after_a_restart(path: &Path, limit: usize) -> Vec<(u64, bool)> {
        // Opened as a copy: opening may rewrite the file, from under `Runs`.
        let copy = path.with_extension("copy");
        std::fs::copy(path, &copy).unwrap();
        let (_, loaded) = History::open(&copy, limit).unwrap();
        loaded
            .iter()
            .map(|run| {
                (
                    run.id,
                    run.error.as_deref() != Some(history::CLIENT_STOPPED),
                )
            })
            .collect()
    }

    #[test]
    fn the_runs_that_make_the_history_compact_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let limit = 2;
        let runs = Runs::open(Some(&path), limit, dir.path(), Default::default()).unwrap();
        // Two lines a run and a limit of two: the history compacts whenever
        // it passes four lines, at a start while runs go one at a time, at
        // an end once they overlap.
        let steps = [
            (1, START),
            (1, END),
            (2, START),
            (2, END),
            (3, START),
            (3, END),
            (4, START),
            (5, START),
            (4, END),
            (6, START),
            (5, END),
            (6, END),
        ];
        // Each run, and whether it has ended.
        let mut known = BTreeMap::new();
        for (id, step) in steps {
            let record = if step == START {
                runs.begin(id, &request(), settings()).1
            } else {
                let failed = Err(RunError::Upstream {
                    retries: 0,
                    source: UpstreamError::NoTargets,
                });
                runs.finish(id, &failed).unwrap()
            };
            runs.append(&record);
            known.insert(id, step == END);
            let newest: Vec<(u64, bool)> = known.iter().map(|(&id, &ended)| (id, ended)).collect();
            let newest = &newest[newest.len().saturating_sub(limit)..];
            assert_eq!(
                after_a_restart(&path, limit),
                newest,
                "run {id}, ended: {step}"
            );
        }
    }

    #[test]
    fn placeholders_make_a_file_per_run() {
        let template = Path::new("out/books-{run}-user{user}-{n}.txt");
        assert_eq!(
            output_path(template, 12, 7, 1000),
            PathBuf::from("out/books-12-user7-1000.txt")
        );
        let plain = Path::new("recommend_books_from_server.txt");
        assert_eq!(output_path(plain, 12, 7, 1000), plain);
    }

    #[test]
    fn only_the_runs_the_history_keeps_own_files() {
        let runs = Runs::open(None, 3, Path::new("."), Default::default()).unwrap();
        for id in 1..=20 {
            let file = PathBuf::from(format!("books-{id}.txt"));
            runs.begin(id, &request(), settings());
            let report = RunSummary {
                user_id: 1,
                requested: 10,
                received: 10,
                file,
                format: Format::Txt,
                elapsed: Duration::from_millis(1),
                retries: 0,
                preview: Vec::new(),
                stopped: false,
            };
            runs.finish(id, &Ok(report)).unwrap();
        }
        let state = runs.lock();
        let mut owners: Vec<u64> = state.owners.values().copied().collect();
        owners.sort_unstable();
        assert_eq!(owners, [18, 19, 20]);
    }
}
