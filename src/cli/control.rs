//! Where `tuntcp serve` listens for `tuntcp ss` / `nstat`: by default an abstract Unix
//! socket `@tuntcp/DEVICE`, which belongs to the network namespace (two namespaces each
//! have their own `tun0` and their own socket, and nothing is left on disk); with
//! `--control PATH` a socket file, removed again by [`ControlSocket::remove`] or on drop.
//!
//! Binding is also the "already running" check: a second `serve` for the same device in
//! the same namespace finds the name taken (EADDRINUSE) and refuses to start.
//! What this module does not do: answer requests (main.rs does, over the listener).

use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A control socket address: abstract (per network namespace) or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlAddr {
    /// The name after the leading NUL, e.g. `tuntcp/tun0`.
    Abstract(String),
    Path(PathBuf),
}

impl ControlAddr {
    /// `--control PATH` if given, else the abstract default for the device.
    pub fn new(tun: &str, control: Option<&Path>) -> ControlAddr {
        match control {
            Some(p) => ControlAddr::Path(p.to_path_buf()),
            None => ControlAddr::Abstract(format!("tuntcp/{tun}")),
        }
    }

    pub fn connect(&self) -> io::Result<UnixStream> {
        match self {
            ControlAddr::Abstract(name) => {
                UnixStream::connect_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)
            }
            ControlAddr::Path(p) => UnixStream::connect(p),
        }
    }
}

/// Printed as `ss -x` prints them: `@name` for an abstract socket.
impl fmt::Display for ControlAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlAddr::Abstract(n) => write!(f, "@{n}"),
            ControlAddr::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A bound control socket. A socket file is removed by `remove()` or on drop (only if
/// the file there is still the one we bound).
pub struct ControlSocket {
    listener: UnixListener,
    addr: ControlAddr,
    /// (device, inode) of the socket file we created.
    file: Option<(u64, u64)>,
}

impl ControlSocket {
    /// Binds `addr`; refuses when another process answers there. Never creates a
    /// directory, and never removes anything but a stale socket (one nobody answers on).
    pub fn bind(addr: &ControlAddr, tun: &str) -> Result<ControlSocket, String> {
        let (listener, file) = match addr {
            ControlAddr::Abstract(name) => {
                let sa = SocketAddr::from_abstract_name(name.as_bytes())
                    .map_err(|e| format!("control socket @{name}: {e}"))?;
                let l = UnixListener::bind_addr(&sa).map_err(|e| {
                    if e.kind() == io::ErrorKind::AddrInUse {
                        format!(
                            "another `tuntcp serve` on {tun} is running in this network \
                             namespace (its control socket @{name} is in use): stop it, or \
                             use another --tun (`tuntcp ss --tun {tun}` shows it)"
                        )
                    } else {
                        format!("control socket @{name}: {e}")
                    }
                })?;
                (l, None)
            }
            ControlAddr::Path(p) => {
                bind_path(p).map_err(|e| format!("control socket {}: {e}", p.display()))?
            }
        };
        Ok(ControlSocket {
            listener,
            addr: addr.clone(),
            file,
        })
    }

    pub fn addr(&self) -> &ControlAddr {
        &self.addr
    }

    /// A second handle on the listening socket (for the thread that answers).
    pub fn listener(&self) -> io::Result<UnixListener> {
        self.listener.try_clone()
    }

    /// Removes the socket file, if we made one and it is still ours. Idempotent.
    pub fn remove(&mut self) {
        if let (ControlAddr::Path(p), Some(id)) = (&self.addr, self.file.take()) {
            if std::fs::symlink_metadata(p).is_ok_and(|m| (m.dev(), m.ino()) == id) {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.remove();
    }
}

fn bind_path(p: &Path) -> Result<(UnixListener, Option<(u64, u64)>), String> {
    let dir = match p.parent() {
        Some(d) if d.as_os_str().is_empty() => Path::new("."),
        Some(d) => d,
        None => return Err("not a file path".into()),
    };
    if !dir.is_dir() {
        return Err(format!(
            "directory {} does not exist (not created: make it, or pick another --control)",
            dir.display()
        ));
    }
    if let Ok(m) = std::fs::symlink_metadata(p) {
        if !m.file_type().is_socket() {
            return Err("exists and is not a socket (not removed)".into());
        }
        match UnixStream::connect(p) {
            Ok(_) => {
                return Err(
                    "another `tuntcp serve` answers there: stop it, or pick another --control"
                        .into(),
                )
            }
            // Nobody listens: a socket left by a process that is gone.
            Err(_) => {
                std::fs::remove_file(p).map_err(|e| format!("removing the stale socket: {e}"))?
            }
        }
    }
    let l = UnixListener::bind(p).map_err(|e| e.to_string())?;
    let m = std::fs::symlink_metadata(p).map_err(|e| e.to_string())?;
    Ok((l, Some((m.dev(), m.ino()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(what: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tuntcp-ctl-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_second_bind_of_the_same_abstract_name_is_refused_with_a_reason() {
        let name = format!("tuntcp-test/{}-abs", std::process::id());
        let a = ControlAddr::Abstract(name.clone());
        let first = ControlSocket::bind(&a, "tun9").unwrap();
        let e = ControlSocket::bind(&a, "tun9").err().unwrap();
        assert!(e.contains("another `tuntcp serve` on tun9"), "{e}");
        assert!(a.connect().is_ok());
        drop(first);
        // The name is free again as soon as the socket closes: nothing to clean up.
        assert!(ControlSocket::bind(&a, "tun9").is_ok());
    }

    #[test]
    fn the_default_is_abstract_and_a_path_is_a_file() {
        assert_eq!(
            ControlAddr::new("tun0", None).to_string(),
            "@tuntcp/tun0".to_string()
        );
        let p = Path::new("/tmp/x.sock");
        assert_eq!(
            ControlAddr::new("tun0", Some(p)),
            ControlAddr::Path(p.into())
        );
    }

    #[test]
    fn a_missing_directory_is_named_and_not_created() {
        let d = temp_dir("missing");
        let p = d.join("no/such/dir/ctl.sock");
        let e = ControlSocket::bind(&ControlAddr::Path(p.clone()), "tun0")
            .err()
            .unwrap();
        assert!(e.contains(&p.display().to_string()), "{e}");
        assert!(e.contains("does not exist"), "{e}");
        assert!(!d.join("no").exists());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_socket_file_is_removed_on_drop_a_live_one_refused_a_stale_one_replaced() {
        let d = temp_dir("file");
        let p = d.join("ctl.sock");
        let a = ControlAddr::Path(p.clone());
        let s = ControlSocket::bind(&a, "tun0").unwrap();
        assert!(p.exists());
        let e = ControlSocket::bind(&a, "tun0").err().unwrap();
        assert!(e.contains("answers there"), "{e}");
        drop(s);
        assert!(!p.exists(), "removed on drop");
        // A stale socket (its listener gone without removing it) is replaced.
        drop(UnixListener::bind(&p).unwrap());
        assert!(p.exists());
        let mut s = ControlSocket::bind(&a, "tun0").unwrap();
        s.remove();
        assert!(!p.exists());
        // A regular file is never removed.
        std::fs::write(&p, "data").unwrap();
        let e = ControlSocket::bind(&a, "tun0").err().unwrap();
        assert!(e.contains("not a socket"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "data");
        std::fs::remove_dir_all(d).unwrap();
    }
}
