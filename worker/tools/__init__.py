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
from worker.tools.base import (
    clip_observation as clip_observation,
)
from worker.tools.bash import (
    _DRAIN_AFTER_EXIT_S as _DRAIN_AFTER_EXIT_S,
)
from worker.tools.bash import (
    _SECRET_ENV_MARKERS as _SECRET_ENV_MARKERS,
)
from worker.tools.bash import (
    _SECRET_ENV_NAMES as _SECRET_ENV_NAMES,
)
from worker.tools.bash import (
    _exit_watcher as _exit_watcher,
)
from worker.tools.bash import (
    _has_exited as _has_exited,
)
from worker.tools.bash import (
    _kill_group as _kill_group,
)
from worker.tools.bash import (
    _read_until_exit as _read_until_exit,
)
from worker.tools.bash import (
    _signal_name as _signal_name,
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
    _capped_lines as _capped_lines,
)
from worker.tools.files import (
    _open_text_checked as _open_text_checked,
)
from worker.tools.files import (
    _read_bytes_checked as _read_bytes_checked,
)
from worker.tools.files import (
    _resolve as _resolve,
)
from worker.tools.files import (
    _write_atomically as _write_atomically,
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
    _HTTP_HEADERS_SHOWN as _HTTP_HEADERS_SHOWN,
)
from worker.tools.http import (
    _Body as _Body,
)
from worker.tools.http import (
    _checked_connection as _checked_connection,
)
from worker.tools.http import (
    _opener as _opener,
)
from worker.tools.http import (
    _read_bounded as _read_bounded,
)
from worker.tools.http import (
    http_request as http_request,
)
from worker.tools.search import (
    _clip_line as _clip_line,
)
from worker.tools.search import (
    glob_files as glob_files,
)
from worker.tools.search import (
    grep_file as grep_file,
)
