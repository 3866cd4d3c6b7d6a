"""A scripted OpenAI-compatible model server on loopback, for tests and CI dry runs.

It speaks Chat Completions (`POST <prefix>/chat/completions`), the Responses
API (`POST <prefix>/responses`) and `GET <prefix>/models` for any path prefix,
and answers from a script instead of a model, so a job configuration can be
run end to end without tokens. The reply for a request is chosen statelessly:
the first rule whose regex matches the goal (the first user message) gives
the steps, and the turn index is the number of assistant messages already in
the request. Steps can also inject faults: delays, HTTP errors, hangs,
non-JSON and truncated bodies. See docs/scripted-model.md.
"""

from scoot.testing.model_server.cli import (
    MAX_PORT as MAX_PORT,
)
from scoot.testing.model_server.cli import (
    serve_forever as serve_forever,
)
from scoot.testing.model_server.handler import (
    HANG_POLL_S as HANG_POLL_S,
)
from scoot.testing.model_server.handler import (
    IDLE_CONNECTION_S as IDLE_CONNECTION_S,
)
from scoot.testing.model_server.handler import (
    MAX_REQUEST_BYTES as MAX_REQUEST_BYTES,
)
from scoot.testing.model_server.replies import (
    chat_reply as chat_reply,
)
from scoot.testing.model_server.replies import (
    conversation_of as conversation_of,
)
from scoot.testing.model_server.replies import (
    error_body as error_body,
)
from scoot.testing.model_server.replies import (
    responses_reply as responses_reply,
)
from scoot.testing.model_server.script import (
    DEFAULT_MODEL as DEFAULT_MODEL,
)
from scoot.testing.model_server.script import (
    EXHAUSTED_REPLY as EXHAUSTED_REPLY,
)
from scoot.testing.model_server.script import (
    EXHAUSTED_STEP as EXHAUSTED_STEP,
)
from scoot.testing.model_server.script import (
    MAX_SCRIPT_BYTES as MAX_SCRIPT_BYTES,
)
from scoot.testing.model_server.script import (
    USAGE_UNSET as USAGE_UNSET,
)
from scoot.testing.model_server.script import (
    Rule as Rule,
)
from scoot.testing.model_server.script import (
    Script as Script,
)
from scoot.testing.model_server.script import (
    ScriptError as ScriptError,
)
from scoot.testing.model_server.script import (
    Step as Step,
)
from scoot.testing.model_server.script import (
    Usage as Usage,
)
from scoot.testing.model_server.script import (
    load_script as load_script,
)
from scoot.testing.model_server.script import (
    parse_script as parse_script,
)
from scoot.testing.model_server.script import (
    parse_step as parse_step,
)
from scoot.testing.model_server.script import (
    parse_usage as parse_usage,
)
from scoot.testing.model_server.script import (
    step_at as step_at,
)
from scoot.testing.model_server.script import (
    steps_for as steps_for,
)
from scoot.testing.model_server.script import (
    usage_of as usage_of,
)
from scoot.testing.model_server.server import (
    RecordedRequest as RecordedRequest,
)
from scoot.testing.model_server.server import (
    ScriptedModel as ScriptedModel,
)
