"""Errors a user can cause and fix: they end a job with one clear line, not a traceback."""


class UserError(Exception):
    """A problem in the user's input, files or environment; the message names the file and field."""


# OS errors that mean "the place we write to is full or closed", not "this run is bad":
# no space, over quota, read-only filesystem, permission denied.
STORAGE_ERRNOS = frozenset({28, 122, 30, 13, 1})  # ENOSPC, EDQUOT, EROFS, EACCES, EPERM


def is_storage_error(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


def describe_storage_error(error: OSError) -> str:
    where = error.filename or "an output file"
    return (
        f"{where}: cannot write: {error.strerror} [errno {error.errno}]; "
        "free some space or make results/ writable, then run snakemake again (finished work is "
        "kept)"
    )
