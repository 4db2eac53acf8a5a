// What `CLUSTER NODES` says, for `qscale status` and `qscale doctor`.

export interface ClusterNode {
  address: string;
  role: 'master' | 'replica';
  /** `connected`, or `fail`/`pfail` (the cluster sees it down), or `disconnected`. */
  state: string;
  /** Slot ranges a master serves, e.g. `0-5460`; for a replica, the master's address. */
  slots: string;
}

/** Parses `CLUSTER NODES`: `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slots…>`. */
export function parseClusterNodes(text: string): ClusterNode[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const byId = new Map(
    lines.map((line) => [line.split(' ')[0]!, line.split(' ')[1]!.split('@')[0]!]),
  );
  return lines
    .map((line) => {
      const [, addr, flags = '', master = '-', , , , link = '', ...slots] = line.split(' ');
      const flagList = flags.split(',');
      const failed = flagList.find((flag) => flag === 'fail' || flag === 'fail?');
      return {
        address: addr!.split('@')[0]!,
        role: flagList.includes('master') ? ('master' as const) : ('replica' as const),
        state: failed ? (failed === 'fail' ? 'fail' : 'pfail') : link,
        slots: flagList.includes('master')
          ? slots.filter((slot) => !slot.startsWith('[')).join(' ')
          : `replica of ${byId.get(master) ?? master}`,
      };
    })
    .sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }));
}
