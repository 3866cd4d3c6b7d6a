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

from scoot.shared.policy.addresses import (
    _CGNAT as _CGNAT,
)
from scoot.shared.policy.addresses import (
    _INTERNAL_HOSTNAMES as _INTERNAL_HOSTNAMES,
)
from scoot.shared.policy.addresses import (
    _NAT64 as _NAT64,
)
from scoot.shared.policy.addresses import (
    IPAddress as IPAddress,
)
from scoot.shared.policy.addresses import (
    _inet_aton_part as _inet_aton_part,
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
    _CODE_LOOP as _CODE_LOOP,
)
from scoot.shared.policy.denylist import (
    _CODE_SPAWN as _CODE_SPAWN,
)
from scoot.shared.policy.denylist import (
    _FETCH_SUBSTITUTION as _FETCH_SUBSTITUTION,
)
from scoot.shared.policy.denylist import (
    _FORK_BOMB as _FORK_BOMB,
)
from scoot.shared.policy.denylist import (
    _FORK_LOOP as _FORK_LOOP,
)
from scoot.shared.policy.denylist import (
    _HOME_EXPRESSION as _HOME_EXPRESSION,
)
from scoot.shared.policy.denylist import (
    _POWER_COMMANDS as _POWER_COMMANDS,
)
from scoot.shared.policy.denylist import (
    _RECURSIVE_DELETE_CALL as _RECURSIVE_DELETE_CALL,
)
from scoot.shared.policy.denylist import (
    _REDIRECT_TARGET as _REDIRECT_TARGET,
)
from scoot.shared.policy.denylist import (
    _SEGMENT_SEPARATOR as _SEGMENT_SEPARATOR,
)
from scoot.shared.policy.denylist import (
    _STRING_LITERAL as _STRING_LITERAL,
)
from scoot.shared.policy.denylist import (
    _SYSTEMCTL_POWER as _SYSTEMCTL_POWER,
)
from scoot.shared.policy.denylist import (
    MAX_CHECKED_COMMAND_CHARS as MAX_CHECKED_COMMAND_CHARS,
)
from scoot.shared.policy.denylist import (
    _check_command_text as _check_command_text,
)
from scoot.shared.policy.denylist import (
    _check_segment as _check_segment,
)
from scoot.shared.policy.denylist import (
    _code_rule as _code_rule,
)
from scoot.shared.policy.denylist import (
    _interpreter_code_rule as _interpreter_code_rule,
)
from scoot.shared.policy.denylist import (
    _producer_words as _producer_words,
)
from scoot.shared.policy.denylist import (
    catastrophic_command as catastrophic_command,
)
from scoot.shared.policy.gate import (
    _decide_guarded as _decide_guarded,
)
from scoot.shared.policy.gate import (
    _decide_readonly as _decide_readonly,
)
from scoot.shared.policy.gate import (
    _path_argument as _path_argument,
)
from scoot.shared.policy.gate import (
    decide as decide,
)
from scoot.shared.policy.gate import (
    explain as explain,
)
from scoot.shared.policy.modes import (
    _ALL_ACTIONS as _ALL_ACTIONS,
)
from scoot.shared.policy.modes import (
    _READONLY_ACTIONS as _READONLY_ACTIONS,
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
    _unknown_mode_text as _unknown_mode_text,
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
    _EXPANSION as _EXPANSION,
)
from scoot.shared.policy.paths import (
    _SENSITIVE_EXACT as _SENSITIVE_EXACT,
)
from scoot.shared.policy.paths import (
    _SENSITIVE_PREFIXES as _SENSITIVE_PREFIXES,
)
from scoot.shared.policy.paths import (
    _SENSITIVE_SUBSTRINGS as _SENSITIVE_SUBSTRINGS,
)
from scoot.shared.policy.paths import (
    _SENSITIVE_SUFFIXES as _SENSITIVE_SUFFIXES,
)
from scoot.shared.policy.paths import (
    _SHELL_WORD_BREAK as _SHELL_WORD_BREAK,
)
from scoot.shared.policy.paths import (
    NO_PROTECTED_PATHS as NO_PROTECTED_PATHS,
)
from scoot.shared.policy.paths import (
    ProtectedPaths as ProtectedPaths,
)
from scoot.shared.policy.paths import (
    _glob_prefix_matches as _glob_prefix_matches,
)
from scoot.shared.policy.paths import (
    _literal_prefix as _literal_prefix,
)
from scoot.shared.policy.paths import (
    _resolve_under as _resolve_under,
)
from scoot.shared.policy.paths import (
    _within as _within,
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
    _ASSIGNMENT as _ASSIGNMENT,
)
from scoot.shared.policy.shell import (
    _BRACES as _BRACES,
)
from scoot.shared.policy.shell import (
    _CODE_RUNNERS as _CODE_RUNNERS,
)
from scoot.shared.policy.shell import (
    _FETCHERS as _FETCHERS,
)
from scoot.shared.policy.shell import (
    _INTERPRETER_CODE_FLAGS as _INTERPRETER_CODE_FLAGS,
)
from scoot.shared.policy.shell import (
    _PREFIX_COMMANDS as _PREFIX_COMMANDS,
)
from scoot.shared.policy.shell import (
    _PREFIX_OPTIONS_WITH_VALUE as _PREFIX_OPTIONS_WITH_VALUE,
)
from scoot.shared.policy.shell import (
    _PREFIX_POSITIONAL as _PREFIX_POSITIONAL,
)
from scoot.shared.policy.shell import (
    _RAW_ASSIGNMENT as _RAW_ASSIGNMENT,
)
from scoot.shared.policy.shell import (
    _SHELL_KEYWORDS as _SHELL_KEYWORDS,
)
from scoot.shared.policy.shell import (
    _SHELL_VARIABLES as _SHELL_VARIABLES,
)
from scoot.shared.policy.shell import (
    _SHELLS as _SHELLS,
)
from scoot.shared.policy.shell import (
    _SUBSTITUTION as _SUBSTITUTION,
)
from scoot.shared.policy.shell import (
    _VARIABLE as _VARIABLE,
)
from scoot.shared.policy.shell import (
    COMPUTED as COMPUTED,
)
from scoot.shared.policy.shell import (
    _command_words as _command_words,
)
from scoot.shared.policy.shell import (
    _command_words_and_wrappers as _command_words_and_wrappers,
)
from scoot.shared.policy.shell import (
    _expand_braces as _expand_braces,
)
from scoot.shared.policy.shell import (
    _has_flag as _has_flag,
)
from scoot.shared.policy.shell import (
    _raw_assignments as _raw_assignments,
)
from scoot.shared.policy.shell import (
    _skip_prefix_options as _skip_prefix_options,
)
from scoot.shared.policy.shell import (
    _split_options as _split_options,
)
from scoot.shared.policy.shell import (
    _substitution_output as _substitution_output,
)
from scoot.shared.policy.shell import (
    expand_command as expand_command,
)
from scoot.shared.policy.shell import (
    normalise_command as normalise_command,
)
from scoot.shared.policy.targets import (
    _CWD_EVERYTHING as _CWD_EVERYTHING,
)
from scoot.shared.policy.targets import (
    _DISK_TOOLS as _DISK_TOOLS,
)
from scoot.shared.policy.targets import (
    _FIND_DELETE_COMMANDS as _FIND_DELETE_COMMANDS,
)
from scoot.shared.policy.targets import (
    _FIND_DELETERS as _FIND_DELETERS,
)
from scoot.shared.policy.targets import (
    _FIND_FILTERS as _FIND_FILTERS,
)
from scoot.shared.policy.targets import (
    _HARMLESS_DEVICE as _HARMLESS_DEVICE,
)
from scoot.shared.policy.targets import (
    _HOME_FORMS as _HOME_FORMS,
)
from scoot.shared.policy.targets import (
    _HOME_SENTINEL as _HOME_SENTINEL,
)
from scoot.shared.policy.targets import (
    _MATCH_ALL_PATTERNS as _MATCH_ALL_PATTERNS,
)
from scoot.shared.policy.targets import (
    _PKILL_OPTIONS_WITH_VALUE as _PKILL_OPTIONS_WITH_VALUE,
)
from scoot.shared.policy.targets import (
    _SYSTEM_DIRS as _SYSTEM_DIRS,
)
from scoot.shared.policy.targets import (
    _SYSTEM_FILE_DIRS as _SYSTEM_FILE_DIRS,
)
from scoot.shared.policy.targets import (
    _dangerous_target as _dangerous_target,
)
from scoot.shared.policy.targets import (
    _interpreter as _interpreter,
)
from scoot.shared.policy.targets import (
    _is_root as _is_root,
)
from scoot.shared.policy.targets import (
    _kill_matches_everything as _kill_matches_everything,
)
from scoot.shared.policy.targets import (
    _reads_code_from_stdin as _reads_code_from_stdin,
)
from scoot.shared.policy.targets import (
    _shell_command_string as _shell_command_string,
)
from scoot.shared.policy.targets import (
    _system_target as _system_target,
)
from scoot.shared.policy.targets import (
    _written_file_rule as _written_file_rule,
)
