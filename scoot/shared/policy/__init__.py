"""The policy model: modes, the unattended mode lattice and the action gate.

Pure decisions, imported by the parent (`scoot policy check`, `schedule
list`) and by every worker, so standard library only. The one impure step,
resolving symlinks of a path under the working directory, lives in
`_resolve_under` alone.

The gate is the first layer, not a sandbox: the guarded denylist catches
catastrophic commands typed plainly or with the usual disguises (wrappers,
quoting, variables assigned in the same command, simple substitutions,
interpreter one-liners), but a shell can always build a command the gate
cannot see (text read from a file, scripts written earlier). That is why
unattended runs never use guarded, and why the kernel layer enforces.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scoot.shared.policy.addresses import (
        IPAddress as IPAddress,
    )
    from scoot.shared.policy.addresses import (
        internal_host_problem as internal_host_problem,
    )
    from scoot.shared.policy.addresses import (
        is_internal_address as is_internal_address,
    )
    from scoot.shared.policy.addresses import (
        parse_ip_literal as parse_ip_literal,
    )
    from scoot.shared.policy.addresses import (
        url_problem as url_problem,
    )
    from scoot.shared.policy.denylist import (
        MAX_CHECKED_COMMAND_CHARS as MAX_CHECKED_COMMAND_CHARS,
    )
    from scoot.shared.policy.denylist import (
        catastrophic_command as catastrophic_command,
    )
    from scoot.shared.policy.gate import (
        decide as decide,
    )
    from scoot.shared.policy.gate import (
        explain as explain,
    )
    from scoot.shared.policy.modes import (
        GUARDED as GUARDED,
    )
    from scoot.shared.policy.modes import (
        MODES as MODES,
    )
    from scoot.shared.policy.modes import (
        READONLY as READONLY,
    )
    from scoot.shared.policy.modes import (
        UNRESTRICTED as UNRESTRICTED,
    )
    from scoot.shared.policy.modes import (
        UNRESTRICTED_WARNING as UNRESTRICTED_WARNING,
    )
    from scoot.shared.policy.modes import (
        Decision as Decision,
    )
    from scoot.shared.policy.modes import (
        ModeResolution as ModeResolution,
    )
    from scoot.shared.policy.modes import (
        allowed_actions as allowed_actions,
    )
    from scoot.shared.policy.modes import (
        effective_unattended_mode as effective_unattended_mode,
    )
    from scoot.shared.policy.modes import (
        is_known_mode as is_known_mode,
    )
    from scoot.shared.policy.modes import (
        stricter as stricter,
    )
    from scoot.shared.policy.paths import (
        NO_PROTECTED_PATHS as NO_PROTECTED_PATHS,
    )
    from scoot.shared.policy.paths import (
        ProtectedPaths as ProtectedPaths,
    )
    from scoot.shared.policy.paths import (
        command_protected_problem as command_protected_problem,
    )
    from scoot.shared.policy.paths import (
        confined_path_problem as confined_path_problem,
    )
    from scoot.shared.policy.paths import (
        match_problem as match_problem,
    )
    from scoot.shared.policy.paths import (
        protected_path_problem as protected_path_problem,
    )
    from scoot.shared.policy.paths import (
        sensitive_name as sensitive_name,
    )
    from scoot.shared.policy.shell import (
        COMPUTED as COMPUTED,
    )
    from scoot.shared.policy.shell import (
        expand_command as expand_command,
    )
    from scoot.shared.policy.shell import (
        normalise_command as normalise_command,
    )

# Each name and the submodule that holds it, imported on first use: a command
# that reads only the modes (`schedule list`) does not pay for the gate, the
# denylist and the shell parser; the worker imports what it uses as before.
_WHERE = {
    "IPAddress": "addresses",
    "internal_host_problem": "addresses",
    "is_internal_address": "addresses",
    "parse_ip_literal": "addresses",
    "url_problem": "addresses",
    "MAX_CHECKED_COMMAND_CHARS": "denylist",
    "catastrophic_command": "denylist",
    "decide": "gate",
    "explain": "gate",
    "GUARDED": "modes",
    "MODES": "modes",
    "READONLY": "modes",
    "UNRESTRICTED": "modes",
    "UNRESTRICTED_WARNING": "modes",
    "Decision": "modes",
    "ModeResolution": "modes",
    "allowed_actions": "modes",
    "effective_unattended_mode": "modes",
    "is_known_mode": "modes",
    "stricter": "modes",
    "NO_PROTECTED_PATHS": "paths",
    "ProtectedPaths": "paths",
    "command_protected_problem": "paths",
    "confined_path_problem": "paths",
    "match_problem": "paths",
    "protected_path_problem": "paths",
    "sensitive_name": "paths",
    "COMPUTED": "shell",
    "expand_command": "shell",
    "normalise_command": "shell",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
