//! Names that really resolve, through the system resolver, to addresses a
//! test chooses: lines of its own in /etc/hosts (glibc returns every line
//! of a name), removed when the test is done. Needs a writable /etc/hosts,
//! as root in CI; elsewhere the tests that need it say so and pass.

use std::{
    fs,
    io::Write,
    net::IpAddr,
    sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    },
};

const HOSTS: &str = "/etc/hosts";
const MARK: &str = "# bookstream-test";

/// One test's edits at a time: each rewrites the whole file.
static EDITS: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(1);

/// A name of this test's, resolving to the addresses last given.
pub struct HostsName {
    name: String,
}

impl HostsName {
    /// A new name resolving to `addresses`, or `None` (with a note on
    /// stderr) where /etc/hosts cannot be written and that is allowed.
    pub fn add(addresses: &[IpAddr]) -> Option<Self> {
        let name = format!(
            "bookstream-{}-{}.test",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let hosts = Self { name };
        match hosts.write(addresses) {
            Ok(()) => Some(hosts),
            Err(error) => {
                assert!(
                    !crate::required("HOSTS"),
                    "{HOSTS} must be writable here: {error}"
                );
                eprintln!("{HOSTS} is not writable ({error}): skipping the DNS discovery tests");
                None
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the name resolve to `addresses` from now on (none: not at all).
    pub fn set(&self, addresses: &[IpAddr]) {
        self.write(addresses).expect("rewriting /etc/hosts");
    }

    fn write(&self, addresses: &[IpAddr]) -> std::io::Result<()> {
        let _one_at_a_time = EDITS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tag = format!("{MARK} {}", self.name);
        let mut text: String = fs::read_to_string(HOSTS)?
            .lines()
            .filter(|line| !line.ends_with(&tag))
            .map(|line| format!("{line}\n"))
            .collect();
        for address in addresses {
            text.push_str(&format!("{address} {} {tag}\n", self.name));
        }
        // Written in place: /etc/hosts is often a bind mount, which a rename cannot replace.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(HOSTS)?;
        file.write_all(text.as_bytes())
    }
}

impl Drop for HostsName {
    fn drop(&mut self) {
        if let Err(error) = self.write(&[]) {
            eprintln!("could not remove {} from {HOSTS}: {error}", self.name);
        }
    }
}
