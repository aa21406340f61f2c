/**
 * `eventbus completion bash|zsh`: the scripts complete commands, options, choices and stream
 * names (from the running server) in a real bash; the zsh script is checked by zsh when it is
 * installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';

const { NODE_OPTIONS: _tapHooks, ...BASE_ENV } = process.env;
const ZSH = ['/usr/bin/zsh', '/bin/zsh'].find((candidate) => existsSync(candidate));

function script(shell: 'bash' | 'zsh'): string {
  const result = spawnSync(process.execPath, [MAIN, 'completion', shell], { encoding: 'utf8', env: BASE_ENV });
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout;
}

t.test('bash: commands, options, choices and stream names', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => void server.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: server.port });
  for (const name of ['orders', 'order-lines', 'users']) await client.createStream(name);
  await client.close();

  const dir = tempDir(t);
  const file = path.join(dir, 'eventbus.bash');
  writeFileSync(file, script('bash'));
  // `eventbus` on the PATH, as a user would have it, for the stream names.
  const bin = path.join(dir, 'bin');
  spawnSync('mkdir', [bin]);
  writeFileSync(path.join(bin, 'eventbus'), `#!/bin/sh\nexec '${process.execPath}' '${MAIN}' "$@"\n`, { mode: 0o755 });
  const complete = (line: string, compopts?: string[], breaks = ':='): string[] => {
    // As bash 5 hands them over (seen in an interactive bash): split at blanks, then at runs of
    // the COMP_WORDBREAKS characters, each run a word of its own ('--host ::1' is '--host' '::'
    // '1'; 'orders:' ends with the word ':', the cursor on it; a blank at the end starts an
    // empty word); the whole line in COMP_LINE, the cursor at its end.
    const run = new RegExp(`([${breaks}]+)`);
    const words = line.split(' ').flatMap((word) => (word === '' ? [''] : word.split(run).filter((part) => part !== '')));
    const quoted = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
    const wordBreaks = `"'><;|&(${breaks}`;
    // compopt works only inside a real completion: recorded here instead, after the replies.
    const program = `source '${file}'; compopt() { OPTS+=("$*"); }; COMP_WORDBREAKS=${quoted(wordBreaks)}; COMP_WORDS=(${words.map(quoted).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE=${quoted(line)}; COMP_POINT=${line.length}; _eventbus; printf '%s\\n' "\${COMPREPLY[@]}"; printf 'compopt %s\\n' "\${OPTS[@]}"`;
    const result = spawnSync('bash', ['-c', program], { encoding: 'utf8', env: { ...BASE_ENV, PATH: `${bin}:${process.env.PATH}`, EVENTBUS_PORT: String(server.port) } });
    t.equal(result.stderr, '', `no errors completing '${line}'`);
    const lines = result.stdout.split('\n').filter((word) => word !== '');
    compopts?.push(...lines.filter((l) => l.startsWith('compopt ')).map((l) => l.slice('compopt '.length)).filter((l) => l !== ''));
    return lines.filter((l) => !l.startsWith('compopt '));
  };
  t.same(complete('eventbus in'), ['info']);
  t.same(complete('eventbus he'), ['help'], 'help is a command too');
  t.same(complete('eventbus help re').sort(), ['read', 'restore'], 'help completes the commands');
  t.same(complete('eventbus re').sort(), ['read', 'restore']);
  t.same(complete('eventbus serve --fs'), ['--fsync']);
  t.same(complete('eventbus serve --fsync i'), ['interval']);
  t.same(complete('eventbus read orders --fo'), ['--follow']);
  t.same(complete('eventbus completion z'), ['zsh']);
  t.same(complete('eventbus docs o'), ['operations']);
  t.same(complete('eventbus info ord').sort(), ['order-lines', 'orders'], 'stream names from the server');
  t.same(complete('eventbus info orders '), [], 'only the first argument is a stream');
  t.same(complete(`eventbus read --port ${server.port} ord`).sort(), ['order-lines', 'orders'], "an option's value is not the stream argument");
  t.same(complete('eventbus consume --consumer billing ').sort(), ['order-lines', 'orders', 'users'], 'after --consumer NAME the stream is still to come');
  t.same(complete('eventbus serve --nats-'), ['--nats-servers', '--nats-creds', '--nats-user', '--nats-tls-ca', '--nats-tls-cert', '--nats-tls-key'], 'hidden options (secrets read from the environment only) are not offered');

  // A stream with a space in its name, on a second server given with --port on the line.
  const other = await startServerProcess();
  t.teardown(() => void other.stop('SIGKILL'));
  const otherClient = await EventBusClient.connect({ port: other.port });
  await otherClient.createStream('my stream');
  await otherClient.close();
  t.same(complete(`eventbus info --port ${other.port} my`), ['my\\ stream'], 'the --port typed on the line is asked; the name is one word, quoted');

  // Names with ':' (dead-letter streams are '$dlq:<stream>:<consumer>') and options written
  // '--opt=value': bash splits both at COMP_WORDBREAKS, and replaces only what follows the last
  // ':' or '=' of the word.
  const dlqClient = await EventBusClient.connect({ port: other.port });
  await dlqClient.createStream('orders:eu');
  await dlqClient.createStream('orders:us');
  await dlqClient.close();
  t.same(complete(`eventbus info --port ${other.port} orders:`).sort(), ['eu', 'us'], "a name with ':': the rest after the typed ':'");
  t.same(complete(`eventbus info --port ${other.port} orders:e`), ['eu']);
  t.same(complete(`eventbus info --port=${other.port} ord`).sort(), ['orders:eu', 'orders:us'], "'--port=N' is asked too");
  t.same(complete(`eventbus info --port=${other.port} orders:eu `), [], "only the first argument is a stream, with ':' in it");
  t.same(complete('eventbus serve --fsync=i'), ['interval'], "'--fsync=' completes its value");
  t.same(complete(`eventbus read --port=${other.port} --fo`), ['--follow'], "after '--port=N' the options still complete");
  t.same(complete(`eventbus info --host ::ffff:127.0.0.1 --port=${other.port} orders:`).sort(), ['eu', 'us'], "a value with ':' ('--host ::ffff:127.0.0.1') is one value, asked as typed");
  t.same(complete(`eventbus info --port ${other.port} --auth=id:secret orders:u`), ['us'], "'--auth=ID:SECRET' is one value too");
  // A user who took ':' out of COMP_WORDBREAKS (as bash-completion's FAQ suggests): bash then
  // replaces the whole word, so the whole name is the reply.
  t.same(complete(`eventbus info --port ${other.port} orders:e`, [], '='), ['orders:eu'], "without ':' in COMP_WORDBREAKS the name is replied whole");
  t.same(complete('eventbus serve --fsync=i', [], ':'), ['--fsync=interval'], "without '=' in COMP_WORDBREAKS the option is replied with its value");

  // verify's path and restore's snapshot are directories.
  const stores = path.join(dir, 'stores');
  spawnSync('mkdir', ['-p', path.join(stores, 'snapshot-a'), path.join(stores, 'snapshot-b')]);
  writeFileSync(path.join(stores, 'snapshot-file'), '');
  spawnSync('mkdir', ['-p', path.join(stores, 'cdir', 'inner'), path.join(stores, 'snap shot c')]);
  for (const command of ['verify', 'restore']) {
    t.same(complete(`eventbus ${command} ${stores}/snap`).sort(), [`${stores}/snap shot c`, `${stores}/snapshot-a`, `${stores}/snapshot-b`], `${command} completes directories; a name with spaces is one word`);
    const compopts: string[] = [];
    t.same(complete(`eventbus ${command} ${stores}/cd`, compopts), [`${stores}/cdir`]);
    t.same(compopts.sort(), ['-o filenames', '-o nospace'], `${command}: bash marks a directory with '/' and adds no space, so completion goes on inside it`);
  }
  const fileOpts: string[] = [];
  t.same(complete(`eventbus serve --config ${stores}/snap`, fileOpts).sort(), [`${stores}/snap shot c`, `${stores}/snapshot-a`, `${stores}/snapshot-b`, `${stores}/snapshot-file`], 'a file option completes files and directories, one word each');
  t.same(fileOpts, ['-o filenames'], 'a file option: bash quotes the names and marks directories');
  const dirOpts: string[] = [];
  t.same(complete(`eventbus serve --data ${stores}/snap`, dirOpts).sort(), [`${stores}/snap shot c`, `${stores}/snapshot-a`, `${stores}/snapshot-b`], 'a directory option completes directories');
  t.same(dirOpts.sort(), ['-o filenames', '-o nospace']);

  // Paths with ':' or '=' in them: bash replaces only what follows the last of them, so the
  // reply is that part (it was the whole path, which bash put after the typed part: 'a:a\\:b/').
  const colons = path.join(stores, 'a:b');
  spawnSync('mkdir', ['-p', path.join(colons, 'xyz-dir'), path.join(stores, 'k=v', 'inner')]);
  writeFileSync(path.join(colons, 'xyw'), '');
  // bash marks only a reply that names a directory itself, so a cut one is marked with its '/'.
  const cutOpts: string[] = [];
  t.same(complete(`eventbus serve --data ${colons}/xy`, cutOpts), ['b/xyz-dir/'], "a directory option, a path with ':'");
  t.ok(cutOpts.includes('-o nospace'), 'no space after the directory: completion goes on inside it');
  t.same(complete(`eventbus serve --data=${colons}/xy`), ['b/xyz-dir/'], "the same written '--data=PATH'");
  t.same(complete(`eventbus serve --config=${colons}/xy`).sort(), ['b/xyw', 'b/xyz-dir/'], "a file option, '--config=PATH' with ':'");
  t.same(complete(`eventbus verify ${colons}/xy`), ['b/xyz-dir/'], "verify's path with ':'");
  t.same(complete(`eventbus verify ${stores}/k=v/in`), ['v/inner/'], "a path with '='");
  t.same(complete(`eventbus verify ${colons}/xy`, [], '='), [`${colons}/xyz-dir`], "without ':' in COMP_WORDBREAKS, the whole path");
});

t.test('zsh: descriptions are whole words, with their apostrophes and colons', async (t) => {
  const text = script('zsh');
  t.match(text, /'info:a stream'\\''s figures, consumers and damage'/, "an apostrophe is kept, quoted as '\\''");
  t.match(text, /--nats-servers=\[jetstream backend: NATS servers, host:port,host:port,\.\.\.\]/, 'host:port stays host:port');
  t.match(text, /'help:show the help of a command'/, 'help is a command');
  t.match(text, /verify\)\n[^;]*'1:directory:_files -\/'/, "verify's path completes directories");
  for (const [, description] of text.matchAll(/\[((?:[^\]\\]|\\.)*)\]:/g)) {
    t.ok(description!.replaceAll("'\\''", "'").length <= 123, `at most 120 characters and an ellipsis: ${description}`);
    if (description!.endsWith('...') && description!.length > 100) t.match(description, /[\w)'] ?\.\.\.$/, `cut after a whole word: ${description}`);
  }
  t.match(text, /--config=\[YAML config file: the original'\\''s config\.yaml layout \(logger, auth\) plus server, storage, consumers and snapshots\.\.\.\]/, 'a long one, cut after a word');
});

t.test('zsh: the script loads and defines the completion', { skip: ZSH === undefined ? 'needs zsh (apt-get install zsh)' : false }, async (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, '_eventbus'), script('zsh'));
  const result = spawnSync(ZSH!, ['-f', '-c', `autoload -U compinit && compinit -u -d '${dir}/dump' && source '${dir}/_eventbus' && whence -w _eventbus _eventbus_streams && print -r -- $_comps[eventbus]`], { encoding: 'utf8', env: { ...BASE_ENV, HOME: dir } });
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, /_eventbus: function[\s\S]*_eventbus_streams: function[\s\S]*_eventbus/);
  t.equal(spawnSync(ZSH!, ['-n', path.join(dir, '_eventbus')], { encoding: 'utf8' }).status, 0, 'zsh -n: the syntax is valid');
});

t.test('zsh: --opt=value forms: a value after = completes, and --port=N is asked for stream names', { skip: ZSH === undefined ? 'needs zsh (apt-get install zsh)' : false }, async (t) => {
  const text = script('zsh');
  t.match(text, /'--fsync=\[[^\]]*\]:value:\(always interval never\)'/, "serve --fsync= takes its value in the same word (_arguments' '--opt=' form)");
  t.match(text, /info\)\n[^;]*'--port=\[/, 'client --port= likewise');
  t.notMatch(text, /'--follow=/, 'an option without a value keeps its plain form');
  const dir = tempDir(t);
  writeFileSync(path.join(dir, '_eventbus'), text);
  // `eventbus` answers with the options it was given, one per line; _describe prints the candidates.
  const bin = path.join(dir, 'bin');
  spawnSync('mkdir', [bin]);
  writeFileSync(path.join(bin, 'eventbus'), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
  const asked = (...words: string[]) => {
    const program = `autoload -U compinit && compinit -u -d '${dir}/dump' && source '${dir}/_eventbus' && _describe() { print -rl -- \${(P)2} } && words=(${words.map((w) => `'${w}'`).join(' ')} '') && _eventbus_streams`;
    const result = spawnSync(ZSH!, ['-f', '-c', program], { encoding: 'utf8', env: { ...BASE_ENV, HOME: dir, PATH: `${bin}:${process.env.PATH}` } });
    t.equal(result.stderr, '', 'no errors');
    return result.stdout.split('\n').filter((line) => line !== '');
  };
  t.same(asked('info', '--port=9000', '--host=bus.internal'), ['streams', '--names', '--port=9000', '--host=bus.internal'], '--port=N and --host=H are passed on');
  t.same(asked('info', '--port', '9000', '--tls'), ['streams', '--names', '--port', '9000', '--tls'], '--port N as before');
});
