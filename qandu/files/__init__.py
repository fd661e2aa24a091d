"""File sharing in the core: uploads, type sniffing, name sanitising, storage and access.

Plugins use :class:`Upload` and :class:`Verdict` (``qandu_scan_file``); the flow is
described in :mod:`qandu.files.service` and ``docs/files.md``.
"""

from qandu.files.blobs import FileStore as FileStore
from qandu.files.blobs import LocalFileStore as LocalFileStore
from qandu.files.model import UPLOAD_STATUSES as UPLOAD_STATUSES
from qandu.files.model import Upload as Upload
from qandu.files.model import Verdict as Verdict
from qandu.files.names import content_disposition as content_disposition
from qandu.files.names import sanitize_filename as sanitize_filename
from qandu.files.sniff import decide_type as decide_type

__all__ = [
    "UPLOAD_STATUSES",
    "FileStore",
    "LocalFileStore",
    "Upload",
    "Verdict",
    "content_disposition",
    "decide_type",
    "sanitize_filename",
]
