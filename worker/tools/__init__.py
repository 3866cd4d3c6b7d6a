"""The agent's tools: run one allowed action and return its observation text.

The policy gate has already allowed the action; these functions only do it,
within hard bounds (time, bytes, match counts). A problem the model caused
(missing file, bad regex, refused connection) raises ToolError with one
line; the agent loop shows it as `error: ...`.
"""

from worker.tools.base import (
    BINARY_SNIFF_BYTES as BINARY_SNIFF_BYTES,
)
from worker.tools.base import (
    MAX_EDIT_BYTES as MAX_EDIT_BYTES,
)
from worker.tools.base import (
    MAX_GLOB_RESULTS as MAX_GLOB_RESULTS,
)
from worker.tools.base import (
    MAX_GREP_MATCHES as MAX_GREP_MATCHES,
)
from worker.tools.base import (
    MAX_LINE_BYTES as MAX_LINE_BYTES,
)
from worker.tools.base import (
    MAX_LINE_CHARS as MAX_LINE_CHARS,
)
from worker.tools.base import (
    ToolError as ToolError,
)
from worker.tools.bash import (
    run_bash as run_bash,
)
from worker.tools.bash import (
    scrubbed_environment as scrubbed_environment,
)
from worker.tools.dispatch import (
    run_tool as run_tool,
)
from worker.tools.files import (
    edit_file as edit_file,
)
from worker.tools.files import (
    read_file as read_file,
)
from worker.tools.files import (
    write_file as write_file,
)
from worker.tools.http import (
    http_request as http_request,
)
from worker.tools.search import (
    glob_files as glob_files,
)
from worker.tools.search import (
    grep_file as grep_file,
)
