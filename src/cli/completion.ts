/**
 * `eventbus completion bash|zsh`: completion scripts made from the command line itself (every
 * command, option and choice that program.ts defines), so they never fall behind it. Arguments
 * named `name` (a stream) complete from the server with `eventbus streams --names`, using the
 * EVENTBUS_* variables of the shell and the connection options typed on the line (--host,
 * --port, --tls, --tls-ca, --auth); names with spaces complete as one word. The value of an
 * option is not taken for the stream argument. Options taking a file or directory complete paths.
 * In bash, words split at ':' and '=' (COMP_WORDBREAKS) are joined again, and each reply is cut
 * to the part bash replaces, after the last of those the user's COMP_WORDBREAKS has.
 */
import type { Command, Option } from 'commander';

interface OptionSpec {
  flags: string[];
  /** Takes a value. */
  value: boolean;
  choices: readonly string[] | undefined;
  /** `file`, `dir` or undefined. */
  path: 'file' | 'dir' | undefined;
  description: string;
}

interface CommandSpec {
  name: string;
  description: string;
  options: OptionSpec[];
  /** Choices of the first argument, `streams` for a stream name, `directories` for a path (verify, restore), or undefined. */
  argument: readonly string[] | 'streams' | 'directories' | undefined;
}

function optionSpec(option: Option): OptionSpec {
  const flags = [option.long, option.short].filter((f): f is string => f !== undefined);
  const value = option.required || option.optional;
  const argumentName = /<([^>]+)>|\[([^\]]+)\]/.exec(option.flags)?.slice(1).find((x) => x !== undefined) ?? '';
  const path = /^(file|snapshot)$/.test(argumentName) ? 'file' : /^dir$/.test(argumentName) ? 'dir' : undefined;
  return { flags, value, choices: option.argChoices, path, description: option.description };
}

function commandSpecs(program: Command): CommandSpec[] {
  return program.commands.map((command): CommandSpec => {
    const first = command.registeredArguments[0];
    const argument = first === undefined ? undefined : first.argChoices ?? (first.name() === 'name' ? 'streams' : /^(path|snapshot)$/.test(first.name()) ? 'directories' : undefined);
    // Hidden options are not offered (serve's, read only from their environment variables).
    const options = command.options.filter((option) => !option.hidden).map(optionSpec);
    options.push({ flags: ['--help', '-h'], value: false, choices: undefined, path: undefined, description: 'show the help' });
    return { name: command.name(), description: command.summary() || command.description(), options, argument };
  }).concat([helpCommand(program)]);
}

/** commander's own `help [command]`, which is not in program.commands. */
function helpCommand(program: Command): CommandSpec {
  return { name: 'help', description: 'show the help of a command', options: [], argument: program.commands.map((command) => command.name()) };
}

/** The script for `shell`. */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const commands = commandSpecs(program);
  return shell === 'bash' ? bashScript(commands) : zshScript(commands);
}

function bashScript(commands: CommandSpec[]): string {
  const words = (list: readonly string[]) => list.join(' ');
  const valueCases: string[] = [];
  const optionCases: string[] = [];
  const argumentCases: string[] = [];
  for (const command of commands) {
    const takesValue = command.options.filter((o) => o.value);
    for (const option of takesValue) {
      const reply = option.choices !== undefined ? `COMPREPLY=($(compgen -W "${words(option.choices)}" -- "$cur"))`
        : option.path === 'dir' ? '_eventbus_paths d'
          : option.path === 'file' ? '_eventbus_paths f'
            : 'COMPREPLY=()';
      valueCases.push(`    "${command.name} ${option.flags.join(`"|"${command.name} `)}") ${reply}; return ;;`);
    }
    optionCases.push(`    ${command.name}) opts="${words(command.options.flatMap((o) => o.flags.filter((f) => f.startsWith('--'))))}"; valopts=" ${words(takesValue.flatMap((o) => o.flags))} " ;;`);
    if (command.argument === 'streams') argumentCases.push(`    ${command.name}) _eventbus_streams ;;`);
    else if (command.argument === 'directories') argumentCases.push(`    ${command.name}) _eventbus_paths d ;;`);
    else if (command.argument !== undefined) argumentCases.push(`    ${command.name}) COMPREPLY=($(compgen -W "${words(command.argument)}" -- "$cur")) ;;`);
  }
  return `# bash completion for eventbus: eval "$(eventbus completion bash)", or save it in /etc/bash_completion.d/eventbus
# Stream names from the server, asked with the connection options typed on the line; each
# name one word (quoted as the shell needs: a name may hold spaces).
_eventbus_streams() {
  local i name prefix
  local -a conn=()
  for ((i = 2; i < cword; i++)); do
    case "\${words[i]}" in
      --host|--port|--auth|--tls-ca) conn+=("\${words[i]}" "\${words[i+1]}"); i=$((i + 1)) ;;
      --host=*|--port=*|--auth=*|--tls-ca=*|--tls) conn+=("\${words[i]}") ;;
    esac
  done
  prefix="\${cur//\\\\/}"
  COMPREPLY=()
  while IFS= read -r name; do
    [[ "$name" == "$prefix"* ]] || continue
    COMPREPLY+=("$(printf '%q' "$name")")
  done < <(eventbus streams --names "\${conn[@]}" 2>/dev/null)
}

# Paths (d: directories, f: files and directories): compgen's lines read one by one, so that a
# name with spaces stays one word; -o filenames has bash quote them and put a '/' after a
# directory, and for directories -o nospace (as -o dirnames does) lets the completion go on
# into it. compopt is bash 4's; outside a completion (or in an older bash) it is skipped.
_eventbus_paths() {
  local line
  COMPREPLY=()
  while IFS= read -r line; do
    COMPREPLY+=("$line")
  done < <(compgen -$1 -- "$cur")
  compopt -o filenames 2>/dev/null
  [[ $1 == d ]] && compopt -o nospace 2>/dev/null
  paths=1
  return 0
}

# bash splits a word at ':' and '=' (COMP_WORDBREAKS): '$dlq:orders:billing' and '--port=9000'
# reach us as several words. Join them again, by what the line holds up to the cursor: a word
# not preceded by a blank belongs to the one before it.
_eventbus_words() {
  local line="\${COMP_LINE:0:COMP_POINT}" word trimmed j
  if [[ -z "\${COMP_LINE-}" ]]; then
    words=("\${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    return 0
  fi
  words=()
  cword=0
  for ((j = 0; j < \${#COMP_WORDS[@]}; j++)); do
    word="\${COMP_WORDS[j]}"
    trimmed="\${line#"\${line%%[![:blank:]]*}"}"
    if [[ $j -gt 0 && "$trimmed" == "$line" && \${#words[@]} -gt 0 ]]; then
      words[\${#words[@]}-1]+="$word"
    else
      words+=("$word")
    fi
    line="\${trimmed:\${#word}}"
    [[ $j -eq $COMP_CWORD ]] && cword=$((\${#words[@]} - 1))
  done
  [[ $COMP_CWORD -ge \${#COMP_WORDS[@]} ]] && words+=("") && cword=$((\${#words[@]} - 1))
  return 0
}

# What bash replaces with a reply: the word's last piece in COMP_WORDS, after its last
# COMP_WORDBREAKS character (none when that piece is the break characters themselves:
# 'orders:' completes after the ':'). base is the rest of the word, before it: taken off every
# reply, as bash-completion's __ltrim_colon_completions does, but for '=' too and only where the
# user's COMP_WORDBREAKS splits.
_eventbus_base() {
  local piece="\${COMP_WORDS[COMP_CWORD]-}" breaks="\${COMP_WORDBREAKS-}"
  [[ -n "$breaks" && -n "$piece" && -z "\${piece//[$breaks]/}" ]] && piece=""
  base="\${words[cword]%"$piece"}"
  return 0
}

_eventbus() {
  local cur prev cmd opts valopts positional i cword base valprefix reply paths=""
  local -a words
  _eventbus_words
  _eventbus_base
  cur="\${words[cword]}"
  prev="\${words[cword-1]}"
  valprefix=""
  # '--fsync=i': the value after '=' is completed as after '--fsync i'; the replies are whole words again below.
  if [[ "$cur" == --*=* ]]; then
    prev="\${cur%%=*}"
    valprefix="$prev="
    cur="\${cur#*=}"
  fi
  _eventbus_candidates
  for ((i = 0; i < \${#COMPREPLY[@]}; i++)); do
    reply="$valprefix\${COMPREPLY[i]}"
    COMPREPLY[i]="\${reply#"$base"}"
    # bash marks a directory only when the reply itself names one; a cut one ('b/dir' of
    # 'a:b/dir') is marked here, and no space follows it, so completion goes on inside it.
    if [[ -n "$paths" && -n "$base" && -d "\${reply#"$valprefix"}" && "$reply" != */ ]]; then
      COMPREPLY[i]+=/
      compopt -o nospace 2>/dev/null
    fi
  done
  return 0
}

# COMPREPLY: the completions of $cur, whole (a path, a name, a value).
_eventbus_candidates() {
  if [[ $cword -eq 1 ]]; then
    COMPREPLY=($(compgen -W "${words(commands.map((c) => c.name))} --help --version" -- "$cur"))
    return
  fi
  cmd="\${words[1]}"
  case "$cmd $prev" in
${valueCases.join('\n')}
  esac
  case "$cmd" in
${optionCases.join('\n')}
    *) opts=""; valopts=" " ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  # Only the first argument after the command is completed; an option's value is no argument.
  positional=0
  for ((i = 2; i < cword; i++)); do
    if [[ "\${words[i]}" == -* ]]; then
      [[ "$valopts" == *" \${words[i]} "* ]] && i=$((i + 1))
    else
      positional=$((positional + 1))
    fi
  done
  [[ $positional -gt 0 ]] && return
  case "$cmd" in
${argumentCases.join('\n')}
  esac
}
complete -F _eventbus eventbus
`;
}

/** Descriptions in the zsh script are at most this long (the first sentence, cut at a word). */
const ZSH_DESCRIPTION_CHARS = 120;

/**
 * A description for the zsh script, inside a single-quoted word: its first sentence, cut at a
 * word boundary (with an ellipsis) when longer than {@link ZSH_DESCRIPTION_CHARS}, a single quote
 * written as '\''. `inBrackets` for an `_arguments` option's `[explanation]`, where a bracket
 * (and so a backslash) must be escaped; colons are taken as they are in both places.
 */
export function zshText(text: string, inBrackets = false): string {
  let first = (text.split(/(?<=\.) /)[0] ?? text).replace(/\s+/g, ' ').trim().replace(/(?<!\.)\.$/, ''); // a sentence's full stop, not an ellipsis
  if (first.length > ZSH_DESCRIPTION_CHARS) {
    const cut = first.slice(0, ZSH_DESCRIPTION_CHARS);
    const space = cut.lastIndexOf(' ');
    first = `${(space > 0 ? cut.slice(0, space) : cut).replace(/[\s,;(-]+$/, '')}...`;
  }
  const escaped = inBrackets ? first.replace(/[\\[\]]/g, (c) => `\\${c}`) : first;
  return escaped.replace(/'/g, "'\\''");
}

function zshScript(commands: CommandSpec[]): string {
  const cases = commands.map((command) => {
    const specs = command.options.map((o) => {
      const action = o.choices !== undefined ? `:value:(${o.choices.join(' ')})` : o.path === 'dir' ? ':directory:_files -/' : o.path === 'file' ? ':file:_files' : o.value ? ':value:' : '';
      // '--opt=': the value may follow in the same word ('--fsync=interval') or as the next one.
      const spelled = o.flags.map((f) => (o.value && f.startsWith('--') ? `${f}=` : f));
      const names = o.flags.length > 1 ? `(${o.flags.join(' ')})'{${spelled.join(',')}}'` : spelled[0]!;
      return `'${names}[${zshText(o.description, true)}]${action}'`;
    });
    const argument = command.argument === 'streams' ? `'1:stream:_eventbus_streams'` : command.argument === 'directories' ? `'1:directory:_files -/'` : command.argument !== undefined ? `'1:${command.name === 'completion' ? 'shell' : command.name === 'help' ? 'command' : 'name'}:(${command.argument.join(' ')})'` : '';
    return `    ${command.name})\n      _arguments -s ${[...specs, argument].filter((x) => x !== '').join(' \\\n        ')} ;;`;
  });
  return `#compdef eventbus
# zsh completion for eventbus: save as _eventbus in a directory of $fpath, or eval "$(eventbus completion zsh)" after compinit
# Stream names from the server, asked with the connection options typed on the line.
_eventbus_streams() {
  local -a streams conn
  local i
  for (( i = 1; i < $#words; i++ )); do
    case $words[i] in
      --host|--port|--auth|--tls-ca) conn+=($words[i] \${(Q)words[i+1]}); (( i++ )) ;;
      --host=*|--port=*|--auth=*|--tls-ca=*) conn+=(\${(Q)words[i]}) ;;
      --tls) conn+=(--tls) ;;
    esac
  done
  streams=(\${(f)"$(eventbus streams --names $conn 2>/dev/null)"})
  # _describe reads name:description; a colon in a name is escaped.
  streams=(\${streams//:/\\\\:})
  _describe 'stream' streams
}

_eventbus() {
  local -a commands
  commands=(
${commands.map((c) => `    '${c.name}:${zshText(c.description)}'`).join('\n')}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  local command=$words[2]
  shift words
  (( CURRENT-- ))
  case $command in
${cases.join('\n')}
  esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _eventbus "$@"
else
  compdef _eventbus eventbus
fi
`;
}
