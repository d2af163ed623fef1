//! What `--server` names: plain URLs, and `dns:///NAME:PORT` targets (gRPC's
//! own target syntax) that stand for every address NAME resolves to. A
//! headless Kubernetes Service, or a Compose network alias shared by
//! several replicas, is such a name.

use std::{fmt, net::SocketAddr, str::FromStr};

/// One `--server` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A single server: `http://HOST:PORT` or `https://HOST:PORT`.
    Url(String),
    /// Every A and AAAA record of `host`, each a server on `port`.
    Dns { host: String, port: u16 },
}

/// A `--server` entry that is neither a URL nor a `dns:///` target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("'{0}' names no host: write dns:///NAME:PORT")]
    MissingHost(String),
    #[error("'{0}' needs a port: write dns:///NAME:PORT, e.g. dns:///bookstream-server:50051")]
    MissingPort(String),
    #[error(
        "'{0}' names a DNS server (dns://SERVER/NAME): only the system resolver is used; write dns:///NAME:PORT"
    )]
    Authority(String),
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, TargetError> {
        let text = text.trim();
        let Some(rest) = text.strip_prefix("dns:") else {
            return Ok(Target::Url(without_userinfo(text)));
        };
        let name = match rest.strip_prefix("///") {
            Some(name) => name,
            None if rest.starts_with("//") => return Err(TargetError::Authority(text.to_owned())),
            // `dns:NAME:PORT` is the short form of the same target.
            None => rest,
        };
        let (host, port) = match name.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (host, port),
            _ => return Err(TargetError::MissingPort(text.to_owned())),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(TargetError::MissingHost(text.to_owned()));
        }
        let port = port
            .parse()
            .map_err(|_| TargetError::MissingPort(text.to_owned()))?;
        Ok(Target::Dns {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Url(url) => f.write_str(url),
            Target::Dns { host, port } => write!(f, "dns:///{host}:{port}"),
        }
    }
}

/// `url` without a `user:password@` in its authority. gRPC never sends them
/// (the server's `--token` is the way in), and a URL is shown in metrics,
/// pages, health, the history and the log: dropped at once, they show
/// nowhere.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The addresses `host` resolves to now, through the system resolver
/// (`/etc/hosts`, then DNS): every A and AAAA record, each once, in order.
pub async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let mut addresses: Vec<SocketAddr> = Vec::new();
    for address in tokio::net::lookup_host((host, port)).await? {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    Ok(addresses)
}

/// The URL of one resolved server.
pub fn url_of(address: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_and_password_in_a_server_url_are_dropped() {
        let target: Target = "http://reader:s3cret@db.example:50051/x".parse().unwrap();
        assert_eq!(target, Target::Url("http://db.example:50051/x".to_owned()));
        let target: Target = "https://tok@host:1".parse().unwrap();
        assert_eq!(target.to_string(), "https://host:1");
        // An @ past the authority is not a user.
        let target: Target = "http://host:1/a@b".parse().unwrap();
        assert_eq!(target.to_string(), "http://host:1/a@b");
    }

    #[test]
    fn dns_targets_and_urls_are_told_apart() {
        assert_eq!(
            "dns:///bookstream-server-headless:50051".parse(),
            Ok(Target::Dns {
                host: "bookstream-server-headless".to_owned(),
                port: 50051
            })
        );
        assert_eq!(
            "dns:///[::1]:50051".parse(),
            Ok(Target::Dns {
                host: "::1".to_owned(),
                port: 50051
            })
        );
        assert_eq!(
            "dns:localhost:7".parse(),
            Ok(Target::Dns {
                host: "localhost".to_owned(),
                port: 7
            })
        );
        assert_eq!(
            "http://127.0.0.1:50051".parse(),
            Ok(Target::Url("http://127.0.0.1:50051".to_owned()))
        );
        let target: Target = "dns:///replicas:50051".parse().unwrap();
        assert_eq!(target.to_string(), "dns:///replicas:50051");
    }

    #[test]
    fn bad_dns_targets_say_what_to_write() {
        for (bad, says) in [
            ("dns:///replicas", "needs a port"),
            ("dns:///replicas:port", "needs a port"),
            ("dns:///:50051", "names no host"),
            ("dns://8.8.8.8/replicas:50051", "only the system resolver"),
        ] {
            let error = bad.parse::<Target>().unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[tokio::test]
    async fn localhost_resolves_to_a_loopback_address_on_the_given_port() {
        let addresses = resolve("localhost", 4242).await.unwrap();
        assert!(!addresses.is_empty());
        assert!(
            addresses
                .iter()
                .all(|address| address.ip().is_loopback() && address.port() == 4242)
        );
        assert_eq!(
            url_of("127.0.0.2:80".parse().unwrap(), false),
            "http://127.0.0.2:80"
        );
    }
}
