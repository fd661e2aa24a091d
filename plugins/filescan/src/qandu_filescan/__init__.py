"""QanDu file scanning: policy per role, YARA rules (EICAR, disguised executables), ClamAV."""

from qandu_filescan.config import FileScanConfig as FileScanConfig
from qandu_filescan.config import RolePolicy as RolePolicy
from qandu_filescan.plugin import FileScan as FileScan

__all__ = ["FileScan", "FileScanConfig", "RolePolicy"]
