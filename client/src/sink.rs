//! The output file: every book is written through a buffer into a temporary
//! file beside the target, which is renamed into place only once the whole
//! stream has arrived. A reader never sees a half-written file; a broken run
//! leaves its books in `<output>.partial` and the previous file untouched.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

use bookstream::book::BookView;
use tempfile::TempPath;

/// Output buffers are large because the sink is on the hot path of every book.
const BUFFER_BYTES: usize = 256 * 1024;

/// How books are laid out in the output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `id, title` per line, as the first Bookstream demo wrote.
    Txt,
    /// A header and every field, RFC 4180 quoting.
    Csv,
    /// One JSON object per line, every field.
    Jsonl,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Why the output file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create a temporary file beside {target}: {source}")]
    Create { target: PathBuf, source: io::Error },
    #[error("writing the output failed: {0}")]
    Write(#[from] io::Error),
    #[error("writing a CSV record failed: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot move the finished file to {target}: {source}")]
    Persist { target: PathBuf, source: io::Error },
}

/// One run's output, being written.
pub struct FileSink {
    target: PathBuf,
    writer: Writer,
    temp_path: TempPath,
    written: u64,
}

enum Writer {
    Txt(BufWriter<File>),
    // Boxed: csv's writer carries a large parser state the other variants lack.
    Csv(Box<csv::Writer<File>>),
    Jsonl(BufWriter<File>),
}

impl FileSink {
    /// Starts a temporary file in the target's directory, so that the final
    /// rename stays on one file system and is atomic.
    pub fn create(target: &Path, format: Format) -> Result<Self, SinkError> {
        Self::start(target, format, temp_prefix(target), None)
    }

    /// [`Self::create`] for run `run`: its temporary file is named after the
    /// run, so that [`leftovers`] finds it if the client dies mid-run.
    pub fn create_for_run(target: &Path, format: Format, run: u64) -> Result<Self, SinkError> {
        Self::start(target, format, run_prefix(target, run), None)
    }

    /// [`Self::create_for_run`] for a follow: the file is
    /// [`following_path`], known before it exists, so that a caller can be
    /// told where to watch it grow.
    pub fn create_for_follow(target: &Path, format: Format, run: u64) -> Result<Self, SinkError> {
        Self::start(target, format, follow_prefix(target, run), Some(0))
    }

    fn start(
        target: &Path,
        format: Format,
        prefix: String,
        random_bytes: Option<usize>,
    ) -> Result<Self, SinkError> {
        let dir = directory(target);
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        if let Some(random_bytes) = random_bytes {
            builder.rand_bytes(random_bytes);
        }
        // The result is an ordinary file for its owner's tools, not a private
        // temporary one: open it as `create` would, subject to the umask.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let temp = builder
            .tempfile_in(dir)
            .map_err(|source| SinkError::Create {
                target: target.to_owned(),
                source,
            })?;
        let (file, temp_path) = temp.into_parts();
        let writer = match format {
            Format::Txt => Writer::Txt(BufWriter::with_capacity(BUFFER_BYTES, file)),
            Format::Csv => Writer::Csv(Box::new(
                csv::WriterBuilder::new()
                    .buffer_capacity(BUFFER_BYTES)
                    .from_writer(file),
            )),
            Format::Jsonl => Writer::Jsonl(BufWriter::with_capacity(BUFFER_BYTES, file)),
        };
        Ok(Self {
            target: target.to_owned(),
            writer,
            temp_path,
            written: 0,
        })
    }

    /// Appends one book, formatted straight from its borrowed fields.
    pub fn write(&mut self, book: &BookView<'_>) -> Result<(), SinkError> {
        match &mut self.writer {
            Writer::Txt(out) => {
                // `writeln!` would go through the formatting machinery per book.
                out.write_all(itoa::Buffer::new().format(book.id).as_bytes())?;
                out.write_all(b", ")?;
                out.write_all(book.title.as_bytes())?;
                out.write_all(b"\n")?;
            }

            Writer::Csv(out) => out.serialize(book)?,
            Writer::Jsonl(out) => {
                serde_json::to_writer(&mut *out, book).map_err(io::Error::from)?;
                out.write_all(b"\n")?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Hands what is buffered to the file, so that readers of the growing
    /// file (`tail -f` on a follow's) see every book written so far.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        match &mut self.writer {
            Writer::Txt(out) | Writer::Jsonl(out) => out.flush()?,
            Writer::Csv(out) => out.flush()?,
        }
        Ok(())
    }

    /// The file being written, until it is committed or kept.
    pub fn path(&self) -> &Path {
        &self.temp_path
    }

    /// Books written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the file durable and moves it onto the target: the complete result.
    pub fn commit(self) -> Result<PathBuf, SinkError> {
        let target = self.target.clone();
        self.finish_as(target)
    }

    /// Keeps what arrived as `<target>.partial`, leaving the target untouched.
    pub fn keep_partial(self) -> Result<PathBuf, SinkError> {
        let partial = partial_path(&self.target);
        self.finish_as(partial)
    }

    fn finish_as(self, destination: PathBuf) -> Result<PathBuf, SinkError> {
        let file = match self.writer {
            Writer::Txt(out) | Writer::Jsonl(out) => {
                out.into_inner().map_err(|error| error.into_error())?
            }
            Writer::Csv(out) => out.into_inner().map_err(|error| error.into_error())?,
        };
        file.sync_all()?;
        drop(file);
        self.temp_path
            .persist(&destination)
            .map_err(|error| SinkError::Persist {
                target: destination.clone(),
                source: error.error,
            })?;
        Ok(destination)
    }
}

/// The directory a file for `target` is written in.
fn directory(target: &Path) -> &Path {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// `.NAME.`: hidden, and beside the file it becomes.
fn temp_prefix(target: &Path) -> String {
    format!(
        ".{}.",
        target
            .file_name()
            .map(|name| name.to_string_lossy())
            .unwrap_or_default()
    )
}

/// `.NAME.run-ID.`: a run's own temporary files.
fn run_prefix(target: &Path, run: u64) -> String {
    format!("{}run-{run}.", temp_prefix(target))
}

/// `.NAME.run-ID.follow`: the name a follow's file has while it grows.
fn follow_prefix(target: &Path, run: u64) -> String {
    format!("{}follow", run_prefix(target, run))
}

/// Where run `run`'s follow of `target` grows until it ends (and is
/// renamed onto `target`): watch it with `tail -f`.
pub fn following_path(target: &Path, run: u64) -> PathBuf {
    directory(target).join(format!("{}.tmp", follow_prefix(target, run)))
}

/// Temporary files that run `run` left for `target`: a run that was still
/// running when its client died. Only names of that run's own shape match.
pub fn leftovers(target: &Path, run: u64) -> Vec<PathBuf> {
    let prefix = run_prefix(target, run);
    let Ok(entries) = std::fs::read_dir(directory(target)) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix)
                && name.ends_with(".tmp")
                && name[prefix.len()..name.len() - ".tmp".len()]
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric())
                && entry.file_type().is_ok_and(|kind| kind.is_file())
        })
        .map(|entry| entry.path())
        .collect()
}

/// The books in a file `format` wrote, as far as whole lines tell: a crash
/// may have torn the last one.
pub fn count_books(path: &Path, format: Format) -> io::Result<u64> {
    use std::io::BufRead;
    let mut lines = 0u64;
    let mut reader = io::BufReader::new(File::open(path)?);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        if line.last() == Some(&b'\n') {
            lines += 1;
        }
        line.clear();
    }
    // CSV starts with its header row.
    Ok(match format {
        Format::Csv => lines.saturating_sub(1),
        Format::Txt | Format::Jsonl => lines,
    })
}

/// Where a broken run keeps what arrived.
pub fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_are_only_the_named_runs_own_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("books.txt");
        for name in [
            ".books.txt.run-7.a1B2c3.tmp",
            ".books.txt.run-71.a1B2c3.tmp",
            ".books.txt.a1B2c3.tmp",
            ".books.txt.run-7.a1B2c3.tmp.keep",
            ".books.txt.run-7.../x.tmp",
            "books.txt",
        ] {
            let _ = std::fs::write(dir.path().join(name), "0, a\n1, b\n2, torn");
        }
        let found = leftovers(&target, 7);
        assert_eq!(found, [dir.path().join(".books.txt.run-7.a1B2c3.tmp")]);
        assert_eq!(count_books(&found[0], Format::Txt).unwrap(), 2);
        assert_eq!(count_books(&found[0], Format::Csv).unwrap(), 1);
    }
    use bookstream::{BookRecommendation, catalog};

    fn write_books(target: &Path, format: Format, count: u64) -> FileSink {
        let mut sink = FileSink::create(target, format).unwrap();
        for book in catalog::books(1, 0..count) {
            sink.write(&book.view()).unwrap();
        }
        sink
    }

    #[test]
    fn txt_lines_are_id_comma_title() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("books.txt");
        write_books(&target, Format::Txt, 3).commit().unwrap();
        let expected: String = catalog::books(1, 0..3)
            .map(|book| format!("{}, {}\n", book.id, book.title))
            .collect();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), expected);
    }

    #[test]
    fn csv_has_a_header_and_round_trips_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("books.csv");
        write_books(&target, Format::Csv, 50).commit().unwrap();
        let text = std::fs::read_to_string(&target).unwrap();
        assert!(
            text.starts_with("id,title,author,isbn13,year,genre,score\n"),
            "{text}"
        );
        let books: Vec<BookRecommendation> = csv::Reader::from_path(&target)
            .unwrap()
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(books, catalog::books(1, 0..50).collect::<Vec<_>>());
    }

    #[test]
    fn the_target_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("books.txt");
        let sink = write_books(&target, Format::Jsonl, 10);
        assert!(!target.exists());
        assert_eq!(sink.written(), 10);
        sink.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(&target).unwrap().lines().count(),
            10
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(
            leftovers.len(),
            1,
            "the temporary file must be gone: {leftovers:?}"
        );
    }

    #[test]
    fn a_partial_run_keeps_its_books_beside_an_untouched_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("books.txt");
        std::fs::write(&target, "previous complete result\n").unwrap();
        let partial = write_books(&target, Format::Txt, 7).keep_partial().unwrap();
        assert_eq!(partial, dir.path().join("books.txt.partial"));
        assert_eq!(
            std::fs::read_to_string(&partial).unwrap().lines().count(),
            7
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "previous complete result\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_result_is_readable_like_any_file_the_user_creates() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("books.txt");
        write_books(&target, Format::Txt, 1).commit().unwrap();
        let reference = dir.path().join("reference");
        std::fs::write(&reference, "").unwrap();
        let mode_of = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode_of(&target), mode_of(&reference));
    }

    #[test]
    fn an_abandoned_sink_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        drop(write_books(&dir.path().join("books.txt"), Format::Txt, 5));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
