"""The file store's filesystem check: on mount tables as `/proc/self/mountinfo` writes them for
the filesystems clusters share, on this machine's own mounts, and as the sweep's registration
applies it."""

from __future__ import annotations

import os

import pytest

from snakesweep.record import fs_check
from snakesweep.record.fs_check import GPFS_MAGIC, LUSTRE_MAGIC, NFS_MAGIC

# One line per filesystem, in mountinfo's format (proc(5)): the mount's own options in field 6,
# the superblock's after the type and source.
TABLE = r"""
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
30 22 0:26 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw
41 22 0:40 / /home rw,relatime shared:20 - nfs4 fs:/home rw,vers=4.2,hard,proto=tcp
42 22 0:41 / /nfs3 rw,relatime shared:21 - nfs fs:/old rw,vers=3,hard,local_lock=none
50 22 0:50 / /lustre/flock rw shared:30 - lustre 10.0.0.1@o2ib:/fs rw,flock,lazystatfs
51 22 0:51 / /lustre/local rw shared:31 - lustre 10.0.0.1@o2ib:/fs rw,localflock,lazystatfs
52 22 0:52 / /lustre/none rw shared:32 - lustre 10.0.0.1@o2ib:/fs rw,lazystatfs
60 22 0:60 / /gpfs/projects rw,relatime shared:40 - gpfs gpfs0 rw
70 22 0:70 / /mnt/my\040sshfs rw,nosuid shared:50 - fuse.sshfs me@host:/ rw,user_id=0
71 22 0:71 / /mnt/cifs rw shared:51 - cifs //srv/share rw,vers=3.0
"""


@pytest.fixture(scope="module")
def mounts():
    return fs_check.parse_mountinfo(TABLE)


@pytest.mark.parametrize(
    ("path", "safe", "why"),
    [
        ("/work/results/sweep", True, "local filesystem (ext4)"),
        ("/dev/shm/results/sweep", True, "local filesystem (tmpfs)"),
        ("/home/me/results/sweep", True, "NFS (nfs4)"),
        ("/nfs3/results/sweep", True, "NFS (nfs)"),
        ("/lustre/flock/me/results/sweep", True, "Lustre mounted with flock"),
        ("/lustre/local/me/results/sweep", False, "localflock"),
        ("/lustre/none/me/results/sweep", False, "without flock"),
        ("/gpfs/projects/me/results/sweep", False, "GPFS"),
        ("/mnt/my sshfs/results/sweep", False, "fuse.sshfs"),
        ("/mnt/cifs/results/sweep", False, "cifs"),
    ],
)
def test_each_filesystem_gets_its_verdict(mounts, path, safe, why):
    verdict = fs_check.judge(fs_check.mount_of(path, mounts))
    assert verdict.safe is safe
    assert why in verdict.why


def test_the_longest_mount_point_holds_the_path_not_a_prefix_of_its_name(mounts):
    assert fs_check.mount_of("/lustre/flock", mounts).point == "/lustre/flock"
    assert fs_check.mount_of("/lustre/flockx/a", mounts).point == "/"
    assert fs_check.mount_of("/homework", mounts).fstype == "ext4"


def test_the_magic_number_decides_where_the_table_does_not_say(mounts):
    root = fs_check.mount_of("/", mounts)
    assert fs_check.judge(root, GPFS_MAGIC).safe is False
    assert fs_check.judge(root, NFS_MAGIC).safe is True
    assert "without flock" in fs_check.judge(root, LUSTRE_MAGIC).why
    assert fs_check.judge(None).safe is False  # nothing known: refuse


def test_this_machines_own_mounts_are_judged_as_their_type_says(tmp_path):
    """Every mount here (this machine's real table) gets the verdict its type calls for, and
    statfs's magic agrees with the table for the folder the tests write to."""
    table = fs_check.parse_mountinfo(open(fs_check.MOUNTINFO).read())
    assert table, "no mounts read from /proc/self/mountinfo"
    for mount in table:
        verdict = fs_check.judge(mount)
        base = mount.fstype.split(".")[0]
        assert verdict.safe is (base in fs_check.LOCAL or base in fs_check.NFS), mount
    here = fs_check.mount_of(os.path.realpath(tmp_path), table)
    assert fs_check.check_folder(tmp_path) == fs_check.judge(here, fs_check.statfs_magic(tmp_path))
    assert fs_check.check_folder(tmp_path / "not" / "made" / "yet") == fs_check.check_folder(
        tmp_path
    )
    assert fs_check.statfs_magic(str(tmp_path)) not in (None, 0)
