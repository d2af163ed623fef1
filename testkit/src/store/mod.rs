//! Stores filled by `server load`'s own code, one per test: an SQLite file
//! in a temporary directory or a database on the private PostgreSQL.

mod older;

pub use older::LAST_JOINED_VERSION;

use std::path::{Path, PathBuf};

use bookstream_server::{
    ServerConfig,
    source::{
        CatalogSpec,
        load::{self, LoadRequest},
    },
};

use crate::{
    postgres::{self, TestDatabase},
    server::{TestServer, spawn_server_with, store_config},
};

/// A store for one test; its file or database lives as long as this value.
pub struct TestStore {
    spec: CatalogSpec,
    kind: Kind,
}

enum Kind {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        database: TestDatabase,
    },
}

impl TestStore {
    /// A new SQLite file holding `books` books for each of `users`.
    pub async fn sqlite(users: &str, books: u64) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("catalog.db");
        let store = Self::sqlite_in(dir, path);
        store.load(users, books).await;
        store
    }

    /// The SQLite file at `path` inside `dir`, as it is (perhaps not there yet).
    pub fn sqlite_in(dir: tempfile::TempDir, path: PathBuf) -> Self {
        Self {
            spec: sqlite_spec(&path),
            kind: Kind::Sqlite { _dir: dir, path },
        }
    }

    /// A new PostgreSQL database holding `books` books for each of `users`,
    /// or `None` where PostgreSQL is not installed (and not required).
    pub async fn postgres(users: &str, books: u64) -> Option<Self> {
        let database = postgres::shared()?.database().await;
        Some(Self::postgres_in(database, users, books).await)
    }

    /// `database` (of any instance) holding `books` books for each of `users`.
    pub async fn postgres_in(database: TestDatabase, users: &str, books: u64) -> Self {
        let store = Self::postgres_unloaded(database);
        store.load(users, books).await;
        store
    }

    /// `database` as it is: no schema yet.
    fn postgres_unloaded(database: TestDatabase) -> Self {
        Self {
            spec: database
                .url()
                .parse()
                .expect("a test database URL is a catalog"),
            kind: Kind::Postgres { database },
        }
    }

    pub fn spec(&self) -> CatalogSpec {
        self.spec.clone()
    }

    /// The database of a PostgreSQL store.
    pub fn database(&self) -> &TestDatabase {
        match &self.kind {
            Kind::Postgres { database } => database,
            Kind::Sqlite { .. } => panic!("an SQLite store has no PostgreSQL database"),
        }
    }

    /// The file of an SQLite store.
    pub fn path(&self) -> &Path {
        match &self.kind {
            Kind::Sqlite { path, .. } => path,
            Kind::Postgres { .. } => panic!("a PostgreSQL store has no file"),
        }
    }

    /// `server load` of the generated books of `users` into this store.
    pub async fn load(&self, users: &str, books: u64) {
        let request = LoadRequest {
            users: users.parse().expect("a valid user range"),
            books,
        };
        load::load(&self.spec, request, &load::Progress::hidden())
            .await
            .expect("server load fills the test store");
    }

    /// A server on this store, with small pages so that streams cross pages.
    pub async fn serve(&self) -> TestServer {
        spawn_server_with(store_config(self.spec())).await
    }

    /// A server on this store, otherwise configured as `config` says.
    pub async fn serve_with(&self, config: ServerConfig) -> TestServer {
        spawn_server_with(ServerConfig {
            catalog: self.spec(),
            ..config
        })
        .await
    }

    /// Rows in one of the store's tables.
    pub async fn rows(&self, table: &str) -> u64 {
        let sql = format!("SELECT count(*) FROM {table}");
        let count: i64 = match &self.kind {
            Kind::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .expect("the store file opens")
                .query_row(&sql, [], |row| row.get(0))
                .expect("the table is there"),
            Kind::Postgres { database } => database
                .connect()
                .await
                .query_one(&sql, &[])
                .await
                .expect("the table is there")
                .get(0),
        };
        u64::try_from(count).expect("a count is never negative")
    }
}

fn sqlite_spec(path: &Path) -> CatalogSpec {
    format!("sqlite:{}", path.display())
        .parse()
        .expect("an SQLite path is a catalog")
}
