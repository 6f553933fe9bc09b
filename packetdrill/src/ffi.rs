//! The C ABI packetdrill loads: `packetdrill_interface_init` and the functions of
//! `struct packetdrill_interface` (packetdrill.h). The only `unsafe` of this crate (see the
//! crate doc): pointers from packetdrill become slices and values here, then [`Shared`]
//! and [`crate::host`] do the work in safe Rust.
//!
//! Errors are returned as Linux does: -1 with `errno` set (packetdrill reads the errno
//! of its own thread, which is the calling thread).
//!
//! `fcntl` and `ioctl` are variadic in C; Rust cannot define a variadic function, so they
//! take the one argument the calls we support pass (an integer or a pointer) as a
//! `c_ulong`. On the Linux ABIs this runs on (x86-64 System V, AArch64 AAPCS64), a caller
//! of a variadic function passes that argument in the same register as for a fixed one.

use std::ffi::{c_char, c_int, c_long, c_longlong, c_uint, c_ulong, c_void};
use std::net::{Ipv4Addr, SocketAddrV4};

use libc::{
    epoll_event, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr, sockaddr_in, socklen_t, ssize_t,
    timeval, timezone, useconds_t,
};

use crate::host::{Blocked, Errno};
use crate::Shared;

type Ud = *mut c_void;

/// `struct packetdrill_interface`, field for field.
#[repr(C)]
pub struct PacketdrillInterface {
    userdata: Ud,
    free: Option<unsafe extern "C" fn(Ud)>,
    socket: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int) -> c_int>,
    bind: Option<unsafe extern "C" fn(Ud, c_int, *const sockaddr, socklen_t) -> c_int>,
    listen: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    accept: Option<unsafe extern "C" fn(Ud, c_int, *mut sockaddr, *mut socklen_t) -> c_int>,
    connect: Option<unsafe extern "C" fn(Ud, c_int, *const sockaddr, socklen_t) -> c_int>,
    read: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, size_t) -> ssize_t>,
    readv: Option<unsafe extern "C" fn(Ud, c_int, *const iovec, c_int) -> ssize_t>,
    recv: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, size_t, c_int) -> ssize_t>,
    recvfrom: Option<
        unsafe extern "C" fn(
            Ud,
            c_int,
            *mut c_void,
            size_t,
            c_int,
            *mut sockaddr,
            *mut socklen_t,
        ) -> ssize_t,
    >,
    recvmsg: Option<unsafe extern "C" fn(Ud, c_int, *mut msghdr, c_int) -> ssize_t>,
    write: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, size_t) -> ssize_t>,
    writev: Option<unsafe extern "C" fn(Ud, c_int, *const iovec, c_int) -> ssize_t>,
    send: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, size_t, c_int) -> ssize_t>,
    sendto: Option<
        unsafe extern "C" fn(
            Ud,
            c_int,
            *const c_void,
            size_t,
            c_int,
            *const sockaddr,
            socklen_t,
        ) -> ssize_t,
    >,
    sendmsg: Option<unsafe extern "C" fn(Ud, c_int, *const msghdr, c_int) -> ssize_t>,
    fcntl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_ulong) -> c_int>,
    ioctl: Option<unsafe extern "C" fn(Ud, c_int, c_ulong, c_ulong) -> c_int>,
    close: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    shutdown: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    getsockopt:
        Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int>,
    setsockopt:
        Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *const c_void, socklen_t) -> c_int>,
    poll: Option<unsafe extern "C" fn(Ud, *mut pollfd, nfds_t, c_int) -> c_int>,
    netdev_send: Option<unsafe extern "C" fn(Ud, *const c_void, size_t) -> c_int>,
    netdev_receive:
        Option<unsafe extern "C" fn(Ud, *mut c_void, *mut size_t, *mut c_longlong) -> c_int>,
    usleep: Option<unsafe extern "C" fn(Ud, useconds_t) -> c_int>,
    gettimeofday: Option<unsafe extern "C" fn(Ud, *mut timeval, *mut timezone) -> c_int>,
    epoll_create: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    epoll_ctl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut epoll_event) -> c_int>,
    epoll_wait: Option<unsafe extern "C" fn(Ud, c_int, *mut epoll_event, c_int, c_int) -> c_int>,
    pipe: Option<unsafe extern "C" fn(Ud, *mut c_int) -> c_int>,
    splice: Option<
        unsafe extern "C" fn(Ud, c_int, *mut i64, c_int, *mut i64, size_t, c_uint) -> ssize_t,
    >,
}

/// Called by packetdrill once per script, before anything else: fills `ifc`.
///
/// # Safety
/// `flags` is NULL or a C string; `ifc` points at a writable `struct packetdrill_interface`.
#[no_mangle]
pub unsafe extern "C" fn packetdrill_interface_init(
    flags: *const c_char,
    ifc: *mut PacketdrillInterface,
) {
    let flags = if flags.is_null() {
        String::new()
    } else {
        std::ffi::CStr::from_ptr(flags)
            .to_string_lossy()
            .into_owned()
    };
    let shared = Box::into_raw(Box::new(Shared::new(&flags)));
    ifc.write(PacketdrillInterface {
        userdata: shared.cast(),
        free: Some(pd_free),
        socket: Some(pd_socket),
        bind: Some(pd_bind),
        listen: Some(pd_listen),
        accept: Some(pd_accept),
        connect: Some(pd_connect),
        read: Some(pd_read),
        readv: Some(pd_readv),
        recv: Some(pd_recv),
        recvfrom: Some(pd_recvfrom),
        recvmsg: Some(pd_recvmsg),
        write: Some(pd_write),
        writev: Some(pd_writev),
        send: Some(pd_send),
        sendto: Some(pd_sendto),
        sendmsg: Some(pd_sendmsg),
        fcntl: Some(pd_fcntl),
        ioctl: Some(pd_ioctl),
        close: Some(pd_close),
        shutdown: Some(pd_shutdown),
        getsockopt: Some(pd_getsockopt),
        setsockopt: Some(pd_setsockopt),
        poll: Some(pd_poll),
        netdev_send: Some(pd_netdev_send),
        netdev_receive: Some(pd_netdev_receive),
        usleep: Some(pd_usleep),
        gettimeofday: Some(pd_gettimeofday),
        epoll_create: Some(pd_epoll_create),
        epoll_ctl: Some(pd_epoll_ctl),
        epoll_wait: Some(pd_epoll_wait),
        pipe: Some(pd_pipe),
        splice: Some(pd_splice),
    });
}

unsafe fn shared<'a>(ud: Ud) -> &'a Shared {
    &*(ud as *const Shared)
}

unsafe fn set_errno(e: Errno) {
    *libc::__errno_location() = e;
}

/// `Ok(v)` as v, `Err(e)` as -1 with errno e.
unsafe fn ret<T: TryInto<c_long>>(r: Result<T, Errno>) -> c_long {
    match r {
        Ok(v) => v.try_into().unwrap_or(c_long::MAX),
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

unsafe fn slice<'a>(p: *const c_void, n: size_t) -> &'a [u8] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p.cast(), n)
    }
}

unsafe fn slice_mut<'a>(p: *mut c_void, n: size_t) -> &'a mut [u8] {
    if p.is_null() || n == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(p.cast(), n)
    }
}

unsafe fn read_sockaddr(addr: *const sockaddr, len: socklen_t) -> Result<SocketAddrV4, Errno> {
    if addr.is_null() || (len as usize) < std::mem::size_of::<sockaddr_in>() {
        return Err(libc::EINVAL);
    }
    let sin = &*(addr as *const sockaddr_in);
    if i32::from(sin.sin_family) != libc::AF_INET {
        return Err(libc::EAFNOSUPPORT);
    }
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
        u16::from_be(sin.sin_port),
    ))
}

unsafe fn write_sockaddr(a: SocketAddrV4, addr: *mut sockaddr, len: *mut socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    let mut sin: sockaddr_in = std::mem::zeroed();
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = a.port().to_be();
    sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    let n = (*len as usize).min(std::mem::size_of::<sockaddr_in>());
    std::ptr::copy_nonoverlapping(
        (&sin as *const sockaddr_in).cast::<u8>(),
        addr.cast::<u8>(),
        n,
    );
    *len = std::mem::size_of::<sockaddr_in>() as socklen_t;
}

unsafe extern "C" fn pd_free(ud: Ud) {
    if ud.is_null() {
        return;
    }
    // A call still blocked on another thread keeps the state alive: leak it then
    // (packetdrill exits right after).
    let idle = {
        let mut g = shared(ud).lock();
        g.host.forget_fds();
        g.waiters.is_empty()
    };
    if idle {
        drop(Box::from_raw(ud as *mut Shared));
    }
}

unsafe extern "C" fn pd_socket(ud: Ud, domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    ret(shared(ud).call(|h| h.socket(domain, ty, protocol))) as c_int
}

unsafe extern "C" fn pd_bind(ud: Ud, fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let r = read_sockaddr(addr, len).and_then(|a| shared(ud).call(|h| h.bind(fd, a)));
    ret(r) as c_int
}

unsafe extern "C" fn pd_listen(ud: Ud, fd: c_int, backlog: c_int) -> c_int {
    ret(shared(ud).call(|h| h.listen(fd, backlog))) as c_int
}

unsafe extern "C" fn pd_accept(
    ud: Ud,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    match shared(ud).block(|h| h.try_accept(fd)) {
        Ok((nfd, remote)) => {
            write_sockaddr(remote, addr, len);
            nfd
        }
        Err(e) => ret::<c_int>(Err(e)) as c_int,
    }
}

unsafe extern "C" fn pd_connect(ud: Ud, fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let s = shared(ud);
    let r = read_sockaddr(addr, len)
        .and_then(|a| s.call(|h| h.connect_start(fd, a)))
        .and_then(|_| s.block(|h| h.try_connect_finish(fd)));
    ret(r) as c_int
}

unsafe fn do_read(ud: Ud, fd: c_int, buf: &mut [u8], flags: c_int) -> ssize_t {
    if flags & libc::MSG_ERRQUEUE != 0 {
        return ret::<isize>(Err(libc::EAGAIN)) as ssize_t;
    }
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    let peek = flags & libc::MSG_PEEK != 0;
    ret(shared(ud).block(|h| h.try_read(fd, buf, dontwait, peek))) as ssize_t
}

/// A read into a NULL buffer: Linux copies nothing and fails with EFAULT once there is
/// data to copy; end of stream, errors and waiting are as for any read.
unsafe fn null_read(ud: Ud, fd: c_int, flags: c_int) -> ssize_t {
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    let mut one = [0u8; 1];
    let r = shared(ud).block(|h| h.try_read(fd, &mut one, dontwait, true));
    ret(r.and_then(|n| if n > 0 { Err(libc::EFAULT) } else { Ok(0) })) as ssize_t
}

/// A write from a NULL buffer: EFAULT on a socket that could send, else its usual error.
unsafe fn null_write(ud: Ud, fd: c_int, flags: c_int) -> ssize_t {
    let r = do_write(ud, fd, &[], flags);
    if r < 0 {
        return r;
    }
    ret::<isize>(Err(libc::EFAULT)) as ssize_t
}

unsafe fn do_write(ud: Ud, fd: c_int, data: &[u8], flags: c_int) -> ssize_t {
    let dontwait = flags & libc::MSG_DONTWAIT != 0;
    let sf = tuntcp::tcp::SendFlags {
        more: flags & libc::MSG_MORE != 0,
        eor: flags & libc::MSG_EOR != 0,
    };
    let mut done = 0;
    ret(shared(ud).block(|h| h.try_write(fd, data, dontwait, sf, &mut done))) as ssize_t
}

/// The iovecs gathered into one buffer (reads scatter back with [`scatter`]).
unsafe fn iov_len(iov: *const iovec, n: c_int) -> Result<Vec<(*mut c_void, usize)>, Errno> {
    if n < 0 || (n > 0 && iov.is_null()) {
        return Err(libc::EINVAL);
    }
    Ok((0..n as usize)
        .map(|i| {
            let v = &*iov.add(i);
            (v.iov_base, v.iov_len)
        })
        .collect())
}

unsafe fn gather(parts: &[(*mut c_void, usize)]) -> Vec<u8> {
    let mut v = Vec::new();
    for &(p, n) in parts {
        v.extend_from_slice(slice(p, n));
    }
    v
}

unsafe fn scatter(parts: &[(*mut c_void, usize)], mut data: &[u8]) {
    for &(p, n) in parts {
        let k = n.min(data.len());
        slice_mut(p, k).copy_from_slice(&data[..k]);
        data = &data[k..];
    }
}

unsafe fn readv_impl(ud: Ud, fd: c_int, iov: *const iovec, n: c_int, flags: c_int) -> ssize_t {
    let parts = match iov_len(iov, n) {
        Ok(p) => p,
        Err(e) => return ret::<isize>(Err(e)) as ssize_t,
    };
    let total: usize = parts.iter().map(|p| p.1).sum();
    let mut buf = vec![0; total];
    let r = do_read(ud, fd, &mut buf, flags);
    if r > 0 {
        scatter(&parts, &buf[..r as usize]);
    }
    r
}

unsafe extern "C" fn pd_read(ud: Ud, fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    if buf.is_null() && n > 0 {
        return null_read(ud, fd, 0);
    }
    do_read(ud, fd, slice_mut(buf, n), 0)
}

unsafe extern "C" fn pd_readv(ud: Ud, fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    readv_impl(ud, fd, iov, n, 0)
}

unsafe extern "C" fn pd_recv(
    ud: Ud,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    if buf.is_null() && n > 0 {
        return null_read(ud, fd, flags);
    }
    do_read(ud, fd, slice_mut(buf, n), flags)
}

unsafe extern "C" fn pd_recvfrom(
    ud: Ud,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    _addr: *mut sockaddr,
    _len: *mut socklen_t,
) -> ssize_t {
    if buf.is_null() && n > 0 {
        return null_read(ud, fd, flags);
    }
    do_read(ud, fd, slice_mut(buf, n), flags)
}

/// `recvmsg(MSG_ERRQUEUE)`: one SO_TIMESTAMPING report as Linux's `ip_recv_error` gives
/// it: no payload (`MSG_TRUNC`), an `SCM_TIMESTAMPING` message with the software time in
/// `ts[0]`, and an `IP_RECVERR` one (`sock_extended_err` plus a zeroed `sockaddr_in`).
unsafe fn recv_errqueue(ud: Ud, fd: c_int, m: &mut msghdr) -> ssize_t {
    let (r, name) = match shared(ud).call(|h| h.take_tstamp(fd)) {
        Ok(x) => x,
        Err(e) => return ret::<isize>(Err(e)) as ssize_t,
    };
    m.msg_flags = libc::MSG_ERRQUEUE | libc::MSG_TRUNC;
    let ts_len = 3 * std::mem::size_of::<libc::timespec>();
    let ee_len =
        std::mem::size_of::<libc::sock_extended_err>() + std::mem::size_of::<sockaddr_in>();
    let need = (libc::CMSG_SPACE(ts_len as u32) + libc::CMSG_SPACE(ee_len as u32)) as usize;
    if m.msg_control.is_null() || m.msg_controllen < need {
        m.msg_controllen = 0;
        m.msg_flags |= libc::MSG_CTRUNC;
        return 0;
    }
    std::ptr::write_bytes(m.msg_control.cast::<u8>(), 0, need);
    let c = libc::CMSG_FIRSTHDR(m);
    (*c).cmsg_level = libc::SOL_SOCKET;
    (*c).cmsg_type = name;
    (*c).cmsg_len = libc::CMSG_LEN(ts_len as u32) as _;
    let ts = libc::timespec {
        tv_sec: (r.usecs / 1_000_000) as libc::time_t,
        tv_nsec: ((r.usecs % 1_000_000) * 1000) as libc::c_long,
    };
    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>(), ts);
    let c = libc::CMSG_NXTHDR(m, c);
    (*c).cmsg_level = libc::SOL_IP;
    (*c).cmsg_type = libc::IP_RECVERR;
    (*c).cmsg_len = libc::CMSG_LEN(ee_len as u32) as _;
    let ee = libc::sock_extended_err {
        ee_errno: libc::ENOMSG as u32,
        ee_origin: libc::SO_EE_ORIGIN_TIMESTAMPING,
        ee_type: 0,
        ee_code: 0,
        ee_pad: 0,
        ee_info: r.info,
        ee_data: r.key,
    };
    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::sock_extended_err>(), ee);
    m.msg_controllen = need as _;
    0
}

unsafe extern "C" fn pd_recvmsg(ud: Ud, fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if msg.is_null() {
        return ret::<isize>(Err(libc::EFAULT)) as ssize_t;
    }
    let m = &mut *msg;
    if flags & libc::MSG_ERRQUEUE != 0 {
        return recv_errqueue(ud, fd, m);
    }
    let r = readv_impl(ud, fd, m.msg_iov, m.msg_iovlen as c_int, flags);
    if r >= 0 {
        m.msg_flags = 0;
        // TCP_INQ: one TCP_CM_INQ message with the bytes left (Linux tcp_recvmsg).
        let inq = shared(ud).call(|h| h.inq_hint(fd));
        let room = libc::CMSG_SPACE(4) as usize;
        match inq {
            Some(v) if !m.msg_control.is_null() && m.msg_controllen >= room => {
                let c = libc::CMSG_FIRSTHDR(m);
                (*c).cmsg_level = libc::SOL_TCP;
                (*c).cmsg_type = libc::TCP_CM_INQ;
                (*c).cmsg_len = libc::CMSG_LEN(4) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<c_int>(), v);
                m.msg_controllen = room as _;
            }
            Some(_) if !m.msg_control.is_null() => {
                m.msg_controllen = 0;
                m.msg_flags |= libc::MSG_CTRUNC;
            }
            _ => m.msg_controllen = 0,
        }
    }
    r
}

unsafe extern "C" fn pd_write(ud: Ud, fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    if buf.is_null() && n > 0 {
        return null_write(ud, fd, 0);
    }
    do_write(ud, fd, slice(buf, n), 0)
}

unsafe extern "C" fn pd_writev(ud: Ud, fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    match iov_len(iov, n) {
        Ok(parts) => do_write(ud, fd, &gather(&parts), 0),
        Err(e) => ret::<isize>(Err(e)) as ssize_t,
    }
}

unsafe extern "C" fn pd_send(
    ud: Ud,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    if buf.is_null() && n > 0 {
        return null_write(ud, fd, flags);
    }
    do_write(ud, fd, slice(buf, n), flags)
}

unsafe extern "C" fn pd_sendto(
    ud: Ud,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    _addr: *const sockaddr,
    _len: socklen_t,
) -> ssize_t {
    if buf.is_null() && n > 0 {
        return null_write(ud, fd, flags);
    }
    do_write(ud, fd, slice(buf, n), flags)
}

unsafe extern "C" fn pd_sendmsg(ud: Ud, fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if msg.is_null() {
        return ret::<isize>(Err(libc::EFAULT)) as ssize_t;
    }
    let m = &*msg;
    match iov_len(m.msg_iov, m.msg_iovlen as c_int) {
        Ok(parts) => do_write(ud, fd, &gather(&parts), flags),
        Err(e) => ret::<isize>(Err(e)) as ssize_t,
    }
}

unsafe extern "C" fn pd_fcntl(ud: Ud, fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    ret(shared(ud).call(|h| h.fcntl(fd, cmd, arg as i64))) as c_int
}

unsafe extern "C" fn pd_ioctl(ud: Ud, fd: c_int, request: c_ulong, arg: c_ulong) -> c_int {
    match shared(ud).call(|h| h.ioctl(fd, request)) {
        Ok(v) => {
            let p = arg as *mut c_int;
            if p.is_null() {
                return ret::<c_int>(Err(libc::EFAULT)) as c_int;
            }
            *p = v;
            0
        }
        Err(e) => ret::<c_int>(Err(e)) as c_int,
    }
}

unsafe extern "C" fn pd_close(ud: Ud, fd: c_int) -> c_int {
    ret(shared(ud).call(|h| h.close(fd))) as c_int
}

unsafe extern "C" fn pd_shutdown(ud: Ud, fd: c_int, how: c_int) -> c_int {
    ret(shared(ud).call(|h| h.shutdown(fd, how))) as c_int
}

unsafe extern "C" fn pd_getsockopt(
    ud: Ud,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    if len.is_null() {
        return ret::<c_int>(Err(libc::EFAULT)) as c_int;
    }
    let out = slice_mut(val, *len as usize);
    match shared(ud).call(|h| h.getsockopt(fd, level, name, out)) {
        Ok(n) => {
            *len = n as socklen_t;
            0
        }
        Err(e) => ret::<c_int>(Err(e)) as c_int,
    }
}

unsafe extern "C" fn pd_setsockopt(
    ud: Ud,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let v = slice(val, len as usize);
    ret(shared(ud).call(|h| h.setsockopt(fd, level, name, v))) as c_int
}

unsafe extern "C" fn pd_poll(ud: Ud, fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    if n > 0 && fds.is_null() {
        return ret::<c_int>(Err(libc::EFAULT)) as c_int;
    }
    let fds = if n == 0 {
        &mut [][..]
    } else {
        std::slice::from_raw_parts_mut(fds, n as usize)
    };
    let s = shared(ud);
    let deadline = (timeout >= 0)
        .then(|| s.lock().host.now + tuntcp::time::Duration::from_millis(timeout as u64));
    let r = s.block(|h| {
        let mut ready = 0;
        for p in fds.iter_mut() {
            p.revents = if p.fd < 0 {
                0
            } else {
                h.poll_one(p.fd, p.events)
            };
            if p.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || deadline.is_some_and(|d| h.now >= d) {
            Blocked::Done(Ok(ready))
        } else {
            Blocked::Wait
        }
    });
    ret(r) as c_int
}

unsafe extern "C" fn pd_netdev_send(ud: Ud, buf: *const c_void, n: size_t) -> c_int {
    let data = slice(buf, n);
    shared(ud).call(|h| h.netdev_send(data));
    0
}

unsafe extern "C" fn pd_netdev_receive(
    ud: Ud,
    buf: *mut c_void,
    count: *mut size_t,
    time_usecs: *mut c_longlong,
) -> c_int {
    if count.is_null() {
        return -1;
    }
    match shared(ud).netdev_receive() {
        Some((p, t)) => {
            let out = slice_mut(buf, *count);
            let n = p.len().min(out.len());
            out[..n].copy_from_slice(&p[..n]);
            *count = n;
            if !time_usecs.is_null() {
                *time_usecs = t as c_longlong;
            }
        }
        // Nothing will ever come: an empty packet, which packetdrill reports as an error
        // on the script line that expected one (instead of waiting forever).
        None => *count = 0,
    }
    0
}

unsafe extern "C" fn pd_usleep(ud: Ud, usec: useconds_t) -> c_int {
    shared(ud).usleep(u64::from(usec));
    0
}

unsafe extern "C" fn pd_gettimeofday(ud: Ud, tv: *mut timeval, _tz: *mut timezone) -> c_int {
    let us = shared(ud).gettimeofday();
    if !tv.is_null() {
        (*tv).tv_sec = (us / 1_000_000) as libc::time_t;
        (*tv).tv_usec = (us % 1_000_000) as libc::suseconds_t;
    }
    0
}

unsafe extern "C" fn pd_epoll_create(ud: Ud, size: c_int) -> c_int {
    if size <= 0 {
        return ret::<c_int>(Err(libc::EINVAL)) as c_int;
    }
    ret(shared(ud).call(|h| h.epoll_create())) as c_int
}

unsafe extern "C" fn pd_epoll_ctl(
    ud: Ud,
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut epoll_event,
) -> c_int {
    // EPOLL_CTL_DEL ignores the event (Linux >= 2.6.9 accepts NULL there).
    let (events, data) = if op == libc::EPOLL_CTL_DEL {
        (0, 0)
    } else if ev.is_null() {
        return ret::<c_int>(Err(libc::EFAULT)) as c_int;
    } else {
        let e = std::ptr::read_unaligned(ev);
        (e.events, e.u64)
    };
    ret(shared(ud).call(|h| h.epoll_ctl(epfd, op, fd, events, data))) as c_int
}

unsafe extern "C" fn pd_epoll_wait(
    ud: Ud,
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    if max <= 0 {
        return ret::<c_int>(Err(libc::EINVAL)) as c_int;
    }
    if ev.is_null() {
        return ret::<c_int>(Err(libc::EFAULT)) as c_int;
    }
    let s = shared(ud);
    let deadline = (timeout >= 0)
        .then(|| s.lock().host.now + tuntcp::time::Duration::from_millis(timeout as u64));
    let r = s.block(|h| match h.epoll_ready(epfd, max as usize) {
        Err(e) => Blocked::Done(Err(e)),
        Ok(ready) if !ready.is_empty() || deadline.is_some_and(|d| h.now >= d) => {
            Blocked::Done(Ok(ready))
        }
        Ok(_) => Blocked::Wait,
    });
    match r {
        Ok(ready) => {
            for (k, (events, data)) in ready.iter().enumerate() {
                let e = epoll_event {
                    events: *events,
                    u64: *data,
                };
                std::ptr::write_unaligned(ev.add(k), e);
            }
            ready.len() as c_int
        }
        Err(e) => ret::<c_int>(Err(e)) as c_int,
    }
}

unsafe extern "C" fn pd_pipe(_ud: Ud, _fds: *mut c_int) -> c_int {
    ret::<c_int>(Err(libc::EOPNOTSUPP)) as c_int
}

unsafe extern "C" fn pd_splice(
    _ud: Ud,
    _a: c_int,
    _ao: *mut i64,
    _b: c_int,
    _bo: *mut i64,
    _n: size_t,
    _f: c_uint,
) -> ssize_t {
    ret::<isize>(Err(libc::EOPNOTSUPP)) as ssize_t
}
