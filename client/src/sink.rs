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
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let prefix = format!(
            ".{}.",
            target
                .file_name()
                .map(|name| name.to_string_lossy())
                .unwrap_or_default()
        );
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
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

/// Where a broken run keeps what arrived.
pub fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
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
