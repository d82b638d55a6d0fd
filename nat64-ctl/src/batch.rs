//! BPF_MAP_LOOKUP_BATCH / UPDATE_BATCH / DELETE_BATCH (Linux 5.6+) on hash maps.
//!
//! aya 0.14 has no batch calls, and reading a table entry by entry costs two syscalls per
//! entry (next key, lookup): seconds of CPU for a million sessions. A batch call moves
//! thousands of entries per syscall. The kernel takes each bucket's lock only while it
//! copies that bucket, so the data plane is never held up for longer than that.
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

use aya::Pod;

const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;
const BPF_MAP_DELETE_BATCH: libc::c_long = 27;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Runs one batch command; on success and on failure alike the kernel reports in `count`
/// how many elements it processed.
fn bpf_batch(cmd: libc::c_long, attr: &mut BatchAttr) -> io::Result<()> {
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut BatchAttr,
            std::mem::size_of::<BatchAttr>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Where a walk over a hash map stands. A hash map's batch position is a bucket index, so
/// entries added or deleted behind it do not upset the walk; an entry present for the
/// whole walk is read exactly once.
#[derive(Debug, Default)]
pub struct Cursor {
    /// The kernel's opaque position (a u32 bucket index for hash maps; room for more).
    token: u64,
    started: bool,
    done: bool,
}

impl Cursor {
    pub fn done(&self) -> bool {
        self.done
    }
}

/// Reads up to `max` more entries (never fewer than one bucket holds) into `out`, which
/// is cleared first. Returns how many; 0 and `cursor.done()` at the end of the map.
pub fn lookup<K: Pod, V: Pod>(
    fd: BorrowedFd<'_>,
    cursor: &mut Cursor,
    out: &mut Vec<(K, V)>,
    max: u32,
) -> io::Result<usize> {
    out.clear();
    if cursor.done {
        return Ok(0);
    }
    let mut keys: Vec<K> = Vec::with_capacity(max as usize);
    let mut values: Vec<V> = Vec::with_capacity(max as usize);
    let mut next: u64 = 0;
    let mut attr = BatchAttr {
        in_batch: if cursor.started {
            &cursor.token as *const u64 as u64
        } else {
            0
        },
        out_batch: &mut next as *mut u64 as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count: max,
        map_fd: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    let r = bpf_batch(BPF_MAP_LOOKUP_BATCH, &mut attr);
    let n = (attr.count.min(max)) as usize;
    match r {
        Ok(()) => {}
        // The end of the map; the last entries came with it.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => cursor.done = true,
        Err(e) => return Err(e),
    }
    // SAFETY: the kernel wrote `n` keys and values (plain data: every bit pattern valid).
    unsafe {
        keys.set_len(n);
        values.set_len(n);
    }
    cursor.token = next;
    cursor.started = true;
    out.extend(keys.into_iter().zip(values));
    Ok(n)
}

/// Every entry of the map, `chunk` per syscall.
pub fn read_all<K: Pod, V: Pod>(fd: BorrowedFd<'_>, chunk: u32) -> io::Result<Vec<(K, V)>> {
    let mut cursor = Cursor::default();
    let mut all = Vec::new();
    let mut part = Vec::new();
    while !cursor.done() {
        lookup(fd, &mut cursor, &mut part, chunk)?;
        all.append(&mut part);
    }
    Ok(all)
}

/// Deletes the keys; keys already gone (deleted by someone else meanwhile) are skipped.
/// Returns how many were deleted.
pub fn delete<K: Pod>(fd: BorrowedFd<'_>, keys: &[K]) -> io::Result<usize> {
    let mut deleted = 0;
    let mut rest = keys;
    while !rest.is_empty() {
        let mut attr = BatchAttr {
            keys: rest.as_ptr() as u64,
            count: rest.len() as u32,
            map_fd: fd.as_raw_fd() as u32,
            ..Default::default()
        };
        let r = bpf_batch(BPF_MAP_DELETE_BATCH, &mut attr);
        let n = (attr.count as usize).min(rest.len());
        deleted += n;
        match r {
            Ok(()) => rest = &rest[n..],
            // rest[n] was not there: step over it.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => rest = &rest[n + 1..],
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

/// Inserts or replaces (`flags` as for a single update: 0, BPF_NOEXIST, BPF_EXIST) every
/// pair. Stops at the first failure (e.g. E2BIG: the map is full).
pub fn update<K: Pod, V: Pod>(
    fd: BorrowedFd<'_>,
    keys: &[K],
    values: &[V],
    flags: u64,
) -> io::Result<()> {
    assert_eq!(keys.len(), values.len());
    let mut done = 0;
    while done < keys.len() {
        let mut attr = BatchAttr {
            keys: keys[done..].as_ptr() as u64,
            values: values[done..].as_ptr() as u64,
            count: (keys.len() - done) as u32,
            map_fd: fd.as_raw_fd() as u32,
            elem_flags: flags,
            ..Default::default()
        };
        let r = bpf_batch(BPF_MAP_UPDATE_BATCH, &mut attr);
        r?;
        if attr.count == 0 {
            return Err(io::Error::other("BPF_MAP_UPDATE_BATCH made no progress"));
        }
        done += attr.count as usize;
    }
    Ok(())
}

/// Each slot's sum over the CPUs of a per-CPU array of u64, for slots `0..slots`, in one
/// syscall (reading slot by slot costs one syscall each: the counters are read after every
/// packet of the loaded-program fuzz and on every metrics scrape). `cpus` is the number of
/// possible CPUs, which is how many values the kernel writes per slot (8 bytes each: a
/// u64 needs no padding to the 8-byte stride).
pub fn read_percpu_u64_sums(fd: BorrowedFd<'_>, slots: u32, cpus: usize) -> io::Result<Vec<u64>> {
    let mut keys = vec![0u32; slots as usize];
    let mut values = vec![0u64; slots as usize * cpus];
    let mut next: u64 = 0;
    let mut attr = BatchAttr {
        out_batch: &mut next as *mut u64 as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count: slots,
        map_fd: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    match bpf_batch(BPF_MAP_LOOKUP_BATCH, &mut attr) {
        // ENOENT: the array ended with this batch (it has exactly `slots` slots).
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    // An array's walk goes 0, 1, 2, …: anything else means the layout is not understood.
    if attr.count != slots || keys.iter().enumerate().any(|(i, &k)| k as usize != i) {
        return Err(io::Error::other(format!(
            "BPF_MAP_LOOKUP_BATCH returned {} of {slots} slots, or out of order",
            attr.count
        )));
    }
    Ok(values
        .chunks(cpus)
        .map(|per_cpu| per_cpu.iter().sum())
        .collect())
}
