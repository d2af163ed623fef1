//! A private PostgreSQL for the tests: Debian's binaries, `initdb` into a
//! temporary directory, a free port, its socket in that directory. One
//! instance serves a whole test binary, each test in its own database.
//!
//! PostgreSQL refuses to run as root, so as root the server runs as the
//! `postgres` user (`runuser`). The instance stops, and its directory goes,
//! when the test binary exits: a guardian process waits for its stdin, a
//! pipe from this process, to close.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

/// The superuser of the test instance (trust authentication, loopback only).
pub const SUPERUSER: &str = "bookstream";

/// A running private PostgreSQL.
pub struct TestPostgres {
    bin_dir: PathBuf,
    port: u16,
    data_dir: PathBuf,
    /// Holds the guardian's stdin open for as long as this process lives.
    _guardian: Mutex<Child>,
}

/// One test's own database in the shared instance.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub name: String,
    pub port: u16,
}

impl TestDatabase {
    /// `postgres://bookstream@127.0.0.1:PORT/NAME`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{}",
            self.port, self.name
        )
    }

    /// The same database with a password in its URL (trust authentication
    /// ignores it), to check that it never shows.
    pub fn url_with_password(&self, password: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{password}@127.0.0.1:{}/{}",
            self.port, self.name
        )
    }

    /// A plain connection for the test's own queries.
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(self.port, &self.name).await
    }

    /// Takes `table` under an ACCESS EXCLUSIVE lock, held until the
    /// [`TableLock`] lets it go: every read of the table waits behind it.
    pub async fn lock_table(&self, table: &str) -> TableLock {
        let holder = self.connect().await;
        holder
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
            ))
            .await
            .unwrap_or_else(|error| panic!("locking {table}: {error}"));
        TableLock { holder }
    }
}

/// A table locked by [`TestDatabase::lock_table`]. Dropped, its connection
/// closes and PostgreSQL rolls the transaction back, so the lock goes too.
#[must_use = "dropped, it lets the lock go at once"]
pub struct TableLock {
    holder: tokio_postgres::Client,
}

impl TableLock {
    /// How long a reader may take to reach the lock before the test fails,
    /// rather than hanging on a reader that never came.
    const WAITER_DEADLINE: Duration = Duration::from_secs(20);

    /// Waits for a backend of `application` (its connections'
    /// `application_name`) to queue behind the lock, terminates that backend,
    /// then lets the lock go: the application loses its connection mid-query.
    pub async fn terminate_waiting(self, application: &str) {
        // Scoped to this database: other tests share the instance.
        let waiting = "SELECT pid FROM pg_stat_activity
                       WHERE datname = current_database() AND application_name = $1
                         AND wait_event_type = 'Lock'";
        let deadline = tokio::time::Instant::now() + Self::WAITER_DEADLINE;
        let pid: i32 = loop {
            let row = self
                .holder
                .query_opt(waiting, &[&application])
                .await
                .expect("reading pg_stat_activity");
            if let Some(row) = row {
                break row.get(0);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no backend of {application} waited for the lock within {:?}",
                Self::WAITER_DEADLINE
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        self.holder
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminating the waiting backend");
        self.holder
            .batch_execute("ROLLBACK")
            .await
            .expect("releasing the lock");
    }
}

static SHARED: OnceLock<Option<TestPostgres>> = OnceLock::new();
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(1);

/// The test binary's PostgreSQL, started on first use. `None`, with a note on
/// stderr, when PostgreSQL is not installed and not [`crate::required`].
pub fn shared() -> Option<&'static TestPostgres> {
    SHARED
        .get_or_init(|| {
            let Some(bin_dir) = find_bin_dir() else {
                assert!(
                    !crate::required("POSTGRES"),
                    "PostgreSQL is required here but initdb/pg_ctl were not found: \
                     install Debian's postgresql or set BOOKSTREAM_PG_BIN"
                );
                eprintln!("PostgreSQL is not installed: skipping the PostgreSQL tests");
                return None;
            };
            Some(TestPostgres::start(bin_dir))
        })
        .as_ref()
}

/// A PostgreSQL of the test's own, for a test that restarts it; `None` as
/// for [`shared`]. It stops, and its directory goes, when it is dropped.
pub fn private() -> Option<TestPostgres> {
    shared()?;
    find_bin_dir().map(TestPostgres::start)
}

/// Runs one of PostgreSQL's programs, as its `postgres` user when this is root.
fn run_as_postgres(bin_dir: &Path, program: &str, args: &[&str]) {
    let program = bin_dir.join(program);
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut command = if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&program);
        command
    } else {
        Command::new(&program)
    };
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TestPostgres {
    fn start(bin_dir: PathBuf) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bookstream-pg-")
            .tempdir()
            .expect("creating the PostgreSQL directory")
            .keep();
        let data_dir = dir.join("data");
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_root = unsafe { libc::geteuid() } == 0;
        if as_root {
            give_to_postgres_user(&dir);
        }
        let run = |program: &str, args: &[&str]| run_as_postgres(&bin_dir, program, args);
        let data = data_dir.to_str().expect("a UTF-8 temporary path");
        run(
            "initdb",
            &[
                "-D",
                data,
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let port = free_port();
        // Durability is not under test here: fsync off keeps the suite quick.
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            dir.display()
        );
        let log = dir.join("postgres.log");
        run(
            "pg_ctl",
            &[
                "-D",
                data,
                "-l",
                log.to_str().unwrap_or_default(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        let guardian = spawn_guardian(&bin_dir, &dir, &data_dir, as_root);
        Self {
            bin_dir,
            port,
            data_dir,
            _guardian: Mutex::new(guardian),
        }
    }

    /// Restarts the instance (a fast shutdown: sessions are ended, then it
    /// starts again with the same settings), as an operator's restart does.
    pub fn restart(&self) {
        let data = self.data_dir.to_str().expect("a UTF-8 temporary path");
        // With its log in a file: a postmaster writing to our pipe would keep
        // pg_ctl's output open for as long as it runs.
        let log = self.data_dir.with_file_name("postgres.log");
        let log = log.to_str().expect("a UTF-8 temporary path");
        run_as_postgres(
            &self.bin_dir,
            "pg_ctl",
            &["-D", data, "-l", log, "-m", "fast", "-w", "restart"],
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where `psql` and the other client programs are.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A new, empty database for one test.
    pub async fn database(&self) -> TestDatabase {
        let name = format!("test_{}", NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
        let admin = connect(self.port, "postgres").await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        TestDatabase {
            name,
            port: self.port,
        }
    }

    /// The data directory, for tests that look at the server's files.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

async fn connect(port: u16, dbname: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(SUPERUSER)
        .dbname(dbname)
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connecting to the test PostgreSQL");
    tokio::spawn(connection);
    client
}

/// `BOOKSTREAM_PG_BIN`, else the newest of Debian's `/usr/lib/postgresql/*/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BOOKSTREAM_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn give_to_postgres_user(dir: &Path) {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .expect("running chown");
    assert!(status.success(), "chown to the postgres user failed");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("finding a free port")
}

/// A shell that waits until its stdin closes (this process exited, however
/// it ended), then stops PostgreSQL and removes its directory.
fn spawn_guardian(bin_dir: &Path, dir: &Path, data_dir: &Path, as_root: bool) -> Child {
    let pg_ctl = bin_dir.join("pg_ctl");
    let stop = format!(
        "{}'{}' -D '{}' -m immediate stop >/dev/null 2>&1",
        if as_root {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl.display(),
        data_dir.display()
    );
    let script = format!("read _; {stop}; rm -rf '{}'", dir.display());
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the PostgreSQL guardian")
}
