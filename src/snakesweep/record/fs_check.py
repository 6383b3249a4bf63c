"""Whether the file store's lock holds across the nodes that share `results/sweep/`.

The file store (`snakesweep.record.store`) excludes its takers with `flock(2)`. That is coherent
across nodes on a Linux NFS client (the kernel emulates it with POSIX locks, which NFS carries
to the server), but not on every filesystem that clusters share:

- Lustre refuses `flock` unless the client mounts it with `-o flock`; with `-o localflock` the
  lock is coherent within one node only;
- GPFS (IBM Storage Scale) grants `flock` per node: two nodes can hold one exclusive lock;
- of other network or FUSE filesystems nothing is known here.

So before a sweep starts, the filesystem under the store is judged from its type (the name in
`/proc/self/mountinfo`, and `statfs`'s magic number) and its mount options. Where the lock is
not known to be coherent, the sweep stops and names `sweep.store` (a PostgreSQL server) as the
fix, or `sweep.single_node` for a sweep whose agents all run on one node.

The judgement (`judge`) is a pure function of the parsed mount table; reading the table and
`statfs` are the thin layer below it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import os
import sys
from pathlib import Path

MOUNTINFO = "/proc/self/mountinfo"

# statfs(2) magic numbers (linux/magic.h, and each filesystem's own source for the others)
NFS_MAGIC, LUSTRE_MAGIC, GPFS_MAGIC = 0x6969, 0x0BD00BD0, 0x47504653
MAGIC_NAMES = {NFS_MAGIC: "nfs", LUSTRE_MAGIC: "lustre", GPFS_MAGIC: "gpfs"}

# Filesystems whose files live on this node's own disks or memory: any lock is coherent among
# the processes that can open them.
LOCAL = frozenset(
    "ext2 ext3 ext4 xfs btrfs zfs f2fs jfs reiserfs tmpfs ramfs overlay squashfs vfat exfat "
    "bcachefs devtmpfs".split()
)
NFS = frozenset({"nfs", "nfs4"})


@dataclasses.dataclass(frozen=True)
class Mount:
    """One line of `/proc/self/mountinfo`: where it is mounted, its type and all its options
    (the mount's own and the superblock's, which is where Lustre's `flock` shows)."""

    point: str
    fstype: str
    options: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Verdict:
    safe: bool
    why: str  # the filesystem and, if not safe, the reason


def _unescape(field: str) -> str:
    """mountinfo writes a space, tab, newline or backslash in a path as an octal escape."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts of a `/proc/<pid>/mountinfo` table (proc(5)): fields up to the optional ones,
    a `-`, then the type, the source and the superblock's options."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        options = set(fields[5].split(","))
        if len(fields) > dash + 3:
            options |= set(fields[dash + 3].split(","))
        options = {option.split("=", 1)[0] for option in options}
        mounts.append(Mount(_unescape(fields[4]), fields[dash + 1], frozenset(options)))
    return mounts


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount that holds the absolute, resolved `path`: the last one mounted (mountinfo is in
    mount order) at the longest point that is `path` or one of its parents."""
    best, best_len = None, -1
    for mount in mounts:
        point = mount.point.rstrip("/")
        if (path == point or path.startswith(point + "/")) and len(point) >= best_len:
            best, best_len = mount, len(point)
    return best


def judge(mount: Mount | None, magic: int | None = None) -> Verdict:
    """Whether `flock` on this mount excludes across every node that can mount it."""
    fstype = MAGIC_NAMES.get(magic) or (mount.fstype if mount else "unknown")
    options = mount.options if mount else frozenset()
    base = fstype.split(".")[0]  # fuse.sshfs -> fuse
    if base in LOCAL:
        return Verdict(True, f"a local filesystem ({fstype})")
    if base in NFS:
        return Verdict(True, f"NFS ({fstype}): Linux carries flock to the server as POSIX locks")
    if base == "lustre":
        if "localflock" in options:
            return Verdict(False, "Lustre mounted with localflock: flock holds within one node")
        if "flock" in options:
            return Verdict(True, "Lustre mounted with flock")
        return Verdict(False, "Lustre mounted without flock: it refuses flock")
    if base == "gpfs":
        return Verdict(False, "GPFS (Storage Scale): flock holds within one node only")
    return Verdict(False, f"a filesystem ({fstype}) not known to share flock across nodes")


def statfs_magic(path: str) -> int | None:
    """`statfs(2)`'s f_type for `path` (Python's `os.statvfs` does not give it); None where libc
    has no statfs."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if not hasattr(libc, "statfs"):
        return None
    buffer = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on x86-64 and arm64
    if libc.statfs(os.fsencode(path), buffer) != 0:
        return None
    return int.from_bytes(buffer.raw[: ctypes.sizeof(ctypes.c_long)], sys.byteorder)


def check_folder(folder: str | Path) -> Verdict:
    """The verdict on the filesystem that holds `folder`, on this machine; a folder not made
    yet is on its nearest existing parent's filesystem (it is checked before anything is
    written)."""
    path = os.path.realpath(folder)
    while not os.path.exists(path) and path != os.path.dirname(path):
        path = os.path.dirname(path)
    try:
        table = Path(MOUNTINFO).read_text()
    except OSError:
        table = ""
    return judge(mount_of(path, parse_mountinfo(table)), statfs_magic(path))
