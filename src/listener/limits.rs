//! How many connections a listener may hold, fitted to the process's
//! file-descriptor limit, and how long a new one has for its first head.

use std::time::Duration;

/// The limits every listener applies to its connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a new connection has to deliver its first request head
    /// (TLS handshake included).
    pub header_read_timeout: Duration,
}

impl ConnectionLimits {
    /// `--max-connections` and `--header-read-timeout` as given, the cap
    /// lowered (with a warning) so that `listeners` listeners full fit in the
    /// file-descriptor limit once `reserve` descriptors are kept for the rest.
    pub fn fitted(
        max_connections: u64,
        header_read_timeout: Duration,
        listeners: usize,
        reserve: u64,
    ) -> Self {
        let wanted = usize::try_from(max_connections).unwrap_or(usize::MAX);
        let fitted = fit_to_descriptors(wanted, listeners, reserve);
        if fitted < wanted {
            tracing::warn!(
                max_connections = fitted,
                wanted,
                "--max-connections lowered to fit the file-descriptor limit (raise it with ulimit -n)"
            );
        }
        Self {
            max_connections: fitted,
            header_read_timeout,
        }
    }
}

/// The file descriptors this process may open, after raising the soft limit
/// to the hard one (as most servers do at start-up). `None` when unknown.
pub fn descriptor_limit() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct given.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        Some(limit.rlim_cur)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// The per-listener cap that fits `listeners` listeners, each asking for
/// `wanted`, into the descriptor limit once `reserve` descriptors are kept
/// for everything else (files, store connections, upstream channels). Past
/// the descriptor limit `accept` itself fails, and then no caller is served,
/// not even the health probe; within it the gate sheds slow connections.
pub fn fit_to_descriptors(wanted: usize, listeners: usize, reserve: u64) -> usize {
    match descriptor_limit() {
        Some(limit) => {
            let available = limit.saturating_sub(reserve) / listeners.max(1) as u64;
            wanted.min(usize::try_from(available).unwrap_or(usize::MAX).max(1))
        }
        None => wanted,
    }
}
