//! epoll(7) over the sockets of [`Host`]: `epoll_create`, `epoll_ctl` and a non-blocking
//! readiness check for `epoll_wait` (the blocking wait is in `ffi.rs`, as for poll).
//!
//! Level-triggered interests report what `poll` reports. Edge-triggered ones (`EPOLLET`)
//! report only after a wakeup, as Linux's ready list holds an item once per wakeup: we
//! count as a wakeup any change of the socket's poll mask, of the bytes it has received,
//! or of its state since the interest was last reported (or added, when Linux's
//! `ep_insert` polls it once). Reading does not wake; new data does, even when unread data
//! was already there.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};

use super::{Errno, Host, Kind};

/// One epoll instance: its real descriptor (see `Sock::real`) and interests by fd.
#[derive(Debug)]
pub(super) struct Epoll {
    pub(super) real: Option<OwnedFd>,
    interests: BTreeMap<i32, Interest>,
}

#[derive(Clone, Copy, Debug)]
struct Interest {
    events: u32,
    data: u64,
    /// The socket's wakeup state when last reported (edge-triggered only); `None`: report
    /// whatever is ready at the next wait.
    seen: Option<Wakeup>,
}

/// What changes on a wakeup: the poll mask, the bytes received, the state.
type Wakeup = (i16, u64, Option<tuntcp::tcp::State>);

const EPOLLET: u32 = 1 << 31;

impl Host {
    pub fn epoll_create(&mut self) -> Result<i32, Errno> {
        let real: OwnedFd = std::fs::File::open("/dev/null")
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EMFILE))?
            .into();
        let fd = real.as_raw_fd();
        self.epolls.insert(
            fd,
            Epoll {
                real: Some(real),
                interests: BTreeMap::new(),
            },
        );
        Ok(fd)
    }

    /// epoll_ctl(2) with Linux's errno values (EEXIST, ENOENT, EBADF, EINVAL, EPERM).
    pub fn epoll_ctl(
        &mut self,
        epfd: i32,
        op: i32,
        fd: i32,
        events: u32,
        data: u64,
    ) -> Result<i32, Errno> {
        if !self.epolls.contains_key(&epfd) {
            return Err(libc::EBADF);
        }
        if fd == epfd {
            return Err(libc::EINVAL);
        }
        if !self.socks.contains_key(&fd) {
            // An epoll inside an epoll is not supported here; anything else is no fd.
            return Err(if self.epolls.contains_key(&fd) {
                libc::EPERM
            } else {
                libc::EBADF
            });
        }
        let set = &mut self.epolls.get_mut(&epfd).ok_or(libc::EBADF)?.interests;
        let new = Interest {
            events,
            data,
            seen: None,
        };
        match op {
            libc::EPOLL_CTL_ADD if set.contains_key(&fd) => Err(libc::EEXIST),
            libc::EPOLL_CTL_ADD | libc::EPOLL_CTL_MOD => {
                if op == libc::EPOLL_CTL_MOD && !set.contains_key(&fd) {
                    return Err(libc::ENOENT);
                }
                set.insert(fd, new);
                Ok(0)
            }
            libc::EPOLL_CTL_DEL => set.remove(&fd).map(|_| 0).ok_or(libc::ENOENT),
            _ => Err(libc::EINVAL),
        }
    }

    /// The events ready now, at most `max`, as (events, data); edge-triggered interests
    /// are consumed. Interests in closed descriptors are dropped (Linux removes them when
    /// the file closes).
    pub fn epoll_ready(&mut self, epfd: i32, max: usize) -> Result<Vec<(u32, u64)>, Errno> {
        let fds: Vec<i32> = self
            .epolls
            .get(&epfd)
            .ok_or(libc::EBADF)?
            .interests
            .keys()
            .copied()
            .collect();
        let mut out = Vec::new();
        for fd in fds {
            if out.len() >= max {
                break;
            }
            let Some(i) = self.epolls[&epfd].interests.get(&fd).copied() else {
                continue;
            };
            if !self.socks.contains_key(&fd) {
                self.epolls.get_mut(&epfd).map(|e| e.interests.remove(&fd));
                continue;
            }
            // poll_one masks to the events asked for (plus ERR/HUP, always reported).
            let mask = self.poll_one(fd, (i.events & 0xffff) as u16 as i16);
            let now = self.wakeup_state(fd, mask);
            let ready = mask as u16 as u32;
            if i.events & EPOLLET != 0 {
                if i.seen == Some(now) {
                    continue;
                }
                if let Some(e) = self.epolls.get_mut(&epfd) {
                    e.interests.entry(fd).and_modify(|i| i.seen = Some(now));
                }
            }
            if ready != 0 {
                out.push((ready, i.data));
            }
        }
        Ok(out)
    }

    fn wakeup_state(&self, fd: i32, mask: i16) -> Wakeup {
        let conn = match self.socks.get(&fd).map(|s| s.kind) {
            Some(Kind::Conn(h)) => self.stack.connection(h),
            _ => None,
        };
        let received = conn.map_or(0, |c| c.info(self.now).bytes_received);
        (mask, received, conn.map(|c| c.state()))
    }
}
