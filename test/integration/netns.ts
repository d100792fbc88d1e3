/**
 * Hosts on one machine for integration tests, made of Linux namespaces. Each host is a network
 * namespace (its own interface `eth0`, address and loopback) whose processes also get a UTS
 * namespace with a hostname of their own, so the ranks of two hosts do not look like one machine
 * (ranks share memory when their hostname and boot id match: native machine_identity()). The
 * hosts' cables meet at a bridge in a namespace of its own, the switch, so no firewall rule of
 * this machine sees their traffic and no interface or route is added outside the namespaces.
 *
 *   switch namespace:  bridge br0 ─ port-<host> ─┐        (one veth pair per host)
 *   host namespace:                   eth0 <address>/24 ─┘
 *
 * Needs root, iproute2's `ip` and util-linux's `unshare`; `unavailableReason()` says why not, for a
 * visible skip.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** Every namespace a test run makes is named `${PREFIX}<pid of the test process>-…`. */
const PREFIX = 'ringmaster-test-';
/** A private /24 for the hosts: addresses exist only inside the namespaces, so it collides with nothing. */
const SUBNET = '10.251.77';

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Why these tests cannot run here (not root, no `ip` or `unshare`, or a kernel or container that
 * refuses namespaces, bridges or veth pairs), or undefined when they can: it tries each once.
 */
export function unavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'unshare']) {
    if (spawnSync(tool, ['-V']).error) return `${tool} is not installed`;
  }
  const ns = `${PREFIX}${process.pid}-probe`;
  const steps = [
    ['ip', 'netns', 'add', ns],
    ['ip', '-n', ns, 'link', 'add', 'br0', 'type', 'bridge'],
    ['ip', '-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
    ['ip', 'netns', 'exec', ns, 'unshare', '--uts', 'hostname', ns],
  ];
  try {
    for (const [command, ...args] of steps) {
      const r = spawnSync(command, args, { encoding: 'utf8' });
      if (r.status !== 0) return `\`${[command, ...args].join(' ')}\` failed: ${r.stderr.trim() || `exit ${r.status}`}`;
    }
    return undefined;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** Kills every process left in the namespace, then deletes it (namespaces of a crashed earlier run, or ours). */
function removeNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  spawnSync('ip', ['netns', 'del', ns]);
}

/** Namespaces of earlier test runs whose process is gone (a run killed before its cleanup). */
function removeStaleNamespaces(): void {
  for (const line of ip(['netns', 'list']).split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)-\\S+)`).exec(line);
    if (!m || Number(m[2]) === process.pid) continue;
    let running = true;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      running = false;
    }
    if (!running) removeNamespace(m[1]);
  }
}

export class VirtualHosts {
  private readonly namespaces: string[] = [];

  private constructor(private readonly hosts: string[]) {}

  /**
   * Hosts with these names (at most 10 characters: `port-<host>` names an interface), numbered
   * .1, .2, … on the switch in the order given. On any failure what was made is removed again.
   */
  static create(hosts: string[]): VirtualHosts {
    const bad = hosts.find((h) => h === 'switch' || !/^[a-z0-9]{1,10}$/.test(h));
    if (bad !== undefined) throw new Error(`host name ${JSON.stringify(bad)}: expected 1–10 lowercase letters or digits, not "switch"`);
    removeStaleNamespaces();
    const net = new VirtualHosts(hosts);
    try {
      const sw = net.add('switch');
      ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', sw, 'link', 'set', 'br0', 'up']);
      hosts.forEach((host, i) => {
        const ns = net.add(host);
        ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `port-${host}`, 'netns', sw]);
        ip(['-n', sw, 'link', 'set', `port-${host}`, 'master', 'br0', 'up']);
        ip(['-n', ns, 'addr', 'add', `${SUBNET}.${i + 1}/24`, 'dev', 'eth0']);
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      });
    } catch (e) {
      net.destroy();
      throw e;
    }
    return net;
  }

  /** The host's address on the switch. */
  address(host: string): string {
    return `${SUBNET}.${this.index(host) + 1}`;
  }

  /** The host's own hostname (what os.hostname() says in its processes). */
  hostname(host: string): string {
    return this.namespace(host);
  }

  /**
   * Starts `command` on the host: in its network namespace, under its hostname. The child is the
   * command itself (ip, unshare and sh each exec the next), so signals to it reach the command.
   */
  spawn(host: string, command: string, args: string[], cwd: string): ChildProcess {
    const setHostname = 'hostname "$0" && exec "$@"';
    return spawn('ip', ['netns', 'exec', this.namespace(host), 'unshare', '--uts', 'sh', '-c', setHostname, this.hostname(host), command, ...args],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Bytes the host has sent on its cable so far. */
  bytesSent(host: string): number {
    const stats = JSON.parse(ip(['-n', this.namespace(host), '-s', '-j', 'link', 'show', 'dev', 'eth0'])) as { stats64: { tx: { bytes: number } } }[];
    return stats[0].stats64.tx.bytes;
  }

  /** Unplugs the host's cable at the switch: its packets go nowhere, and no peer learns it (no reset). */
  unplug(host: string): void {
    ip(['-n', this.namespace('switch'), 'link', 'set', `port-${host}`, 'down']);
  }

  /** Kills every process still on the hosts and removes the namespaces (and with them the cables and the switch). */
  destroy(): void {
    for (const ns of this.namespaces.splice(0).reverse()) removeNamespace(ns);
  }

  private add(name: string): string {
    const ns = `${PREFIX}${process.pid}-${name}`;
    ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  private namespace(host: string): string {
    if (host !== 'switch') this.index(host);
    return `${PREFIX}${process.pid}-${host}`;
  }

  private index(host: string): number {
    const i = this.hosts.indexOf(host);
    if (i < 0) throw new Error(`no host ${host} (hosts: ${this.hosts.join(', ')})`);
    return i;
  }
}
