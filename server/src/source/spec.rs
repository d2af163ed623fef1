//! `--catalog SOURCE`: which catalog the server streams from, parsed once at
//! start-up. A PostgreSQL URL may carry a password, so this type never shows
//! the URL as given: its `Display` and `Debug` forms leave the password out.

use std::{fmt, path::PathBuf, str::FromStr};

/// Where books come from.
#[derive(Clone, PartialEq, Eq)]
pub enum CatalogSpec {
    /// The deterministic catalog, generated per request: no setup at all.
    Generated,
    /// An SQLite file, opened read-only by the server.
    Sqlite(PathBuf),
    /// A PostgreSQL database (or any engine that speaks its protocol).
    Postgres(PostgresUrl),
}

/// A parsed PostgreSQL connection URL and its password-free name.
#[derive(Clone)]
pub struct PostgresUrl {
    // Boxed: the driver's configuration is large, and specs are moved around.
    config: Box<tokio_postgres::Config>,
    redacted: String,
    /// The URL as given, password included.
    given: String,
}

impl PartialEq for PostgresUrl {
    fn eq(&self, other: &Self) -> bool {
        self.redacted == other.redacted && self.config.get_password() == other.config.get_password()
    }
}

impl Eq for PostgresUrl {}

impl PostgresUrl {
    /// The driver's configuration, password included.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// `postgres://user@host:port/db`: everything but the password.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

/// A `--catalog` value that is not one of the three forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(
        "unknown catalog '{shown}': use `generated`, `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`"
    )]
    UnknownScheme { shown: String },
    #[error("`sqlite:` needs a file path, like sqlite:books.db")]
    MissingSqlitePath,
    #[error(
        "the PostgreSQL URL is malformed ({reason}); expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB"
    )]
    MalformedUrl { reason: String },
}

impl FromStr for CatalogSpec {
    type Err = SpecError;

    fn from_str(value: &str) -> Result<Self, SpecError> {
        let value = value.trim();
        if value == "generated" {
            return Ok(CatalogSpec::Generated);
        }
        if let Some(path) = value.strip_prefix("sqlite:") {
            // `sqlite://books.db` is the form other tools write; both mean the same file.
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(SpecError::MissingSqlitePath);
            }
            return Ok(CatalogSpec::Sqlite(PathBuf::from(path)));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return PostgresUrl::parse(value).map(CatalogSpec::Postgres);
        }
        // Only the scheme is repeated back: the rest may hold a secret.
        let shown = match value.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None if value.len() <= 40 && !value.contains('@') => value.to_owned(),
            None => "…".to_owned(),
        };
        Err(SpecError::UnknownScheme { shown })
    }
}

impl PostgresUrl {
    fn parse(url: &str) -> Result<Self, SpecError> {
        let config =
            tokio_postgres::Config::from_str(url).map_err(|error| SpecError::MalformedUrl {
                reason: describe_parse_error(&error, url),
            })?;
        if config.get_hosts().is_empty() {
            return Err(SpecError::MalformedUrl {
                reason: "it names no host".to_owned(),
            });
        }
        let redacted = redact(&config);
        Ok(Self {
            config: Box::new(config),
            redacted,
            given: url.to_owned(),
        })
    }
}

/// The driver's reason, unless it quotes part of the URL (which may be the password).
fn describe_parse_error(error: &tokio_postgres::Error, url: &str) -> String {
    let reason = error.to_string();
    let quotes_the_url = url
        .split(['/', ':', '@', '?', '&', '='])
        .any(|part| part.len() >= 3 && reason.contains(part));
    if quotes_the_url {
        "it could not be parsed".to_owned()
    } else {
        reason
    }
}

fn redact(config: &tokio_postgres::Config) -> String {
    let user = config
        .get_user()
        .map(|user| format!("{user}@"))
        .unwrap_or_default();
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let host = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match ports.get(index).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let dbname = config.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{dbname}", hosts.join(","))
}

impl CatalogSpec {
    /// The value as it was given, password included: for handing to a child
    /// process through its environment, never for showing.
    pub fn reveal(&self) -> String {
        match self {
            CatalogSpec::Postgres(url) => url.given.clone(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for CatalogSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogSpec::Generated => f.write_str("generated"),
            CatalogSpec::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            CatalogSpec::Postgres(url) => f.write_str(url.redacted()),
        }
    }
}

impl fmt::Debug for CatalogSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same password-free form: a debug log must not leak it either.
        write!(f, "CatalogSpec({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_are_understood() {
        assert_eq!("generated".parse(), Ok(CatalogSpec::Generated));
        assert_eq!(
            "sqlite:books.db".parse(),
            Ok(CatalogSpec::Sqlite("books.db".into()))
        );
        assert_eq!(
            "sqlite:///var/lib/books.db".parse(),
            Ok(CatalogSpec::Sqlite("/var/lib/books.db".into()))
        );
        for url in [
            "postgres://reader@db.example:5433/books",
            "postgresql://reader@db.example:5433/books",
        ] {
            let spec: CatalogSpec = url.parse().unwrap();
            assert_eq!(spec.to_string(), "postgres://reader@db.example:5433/books");
        }
    }

    #[test]
    fn a_password_never_shows_in_any_printed_form() {
        let spec: CatalogSpec = "postgres://reader:hunter2-secret@db:5432/books?sslmode=disable"
            .parse()
            .unwrap();
        let CatalogSpec::Postgres(url) = &spec else {
            panic!("{spec}")
        };
        assert_eq!(url.config().get_password(), Some(&b"hunter2-secret"[..]));
        for shown in [
            spec.to_string(),
            format!("{spec:?}"),
            url.redacted().to_owned(),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn bad_values_are_refused_without_repeating_a_secret() {
        for bad in [
            "mysql://root:hunter2@db/books",
            "postgres://reader:hunter2@db:notaport/books",
            "postgres://reader:hunter2@db/books?sslmode=sometimes",
            "sqlite:",
            "books.db",
            "",
            "user:hunter2@db",
        ] {
            let error = bad.parse::<CatalogSpec>().unwrap_err();
            assert!(!error.to_string().contains("hunter2"), "{bad}: {error}");
        }
        assert!(matches!(
            "mysql://x".parse::<CatalogSpec>(),
            Err(SpecError::UnknownScheme { .. })
        ));
        assert!(matches!(
            "postgres://reader@db:notaport/books".parse::<CatalogSpec>(),
            Err(SpecError::MalformedUrl { .. })
        ));
    }
}
