/**
 * Named points where a fault-injection test kills this process, to prove that what was stored
 * up to that point is enough to carry on. `RINGMASTER_FAILPOINT=<name>` in a process's
 * environment makes it die by SIGKILL the first time it passes `failpoint(<name>)`; without the
 * variable a failpoint costs one comparison. The coordinator's points are listed in
 * coordinator/job-manager.ts (`transition`).
 */
const armed = process.env.RINGMASTER_FAILPOINT;

export function failpoint(name: string): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
