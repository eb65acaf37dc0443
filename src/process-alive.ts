// Whether another process of this machine still runs: the embedded queue's leases and the ingest
// journal's files name the process that holds them, and are taken over only once it is gone.

/** True while a process with this id runs (signal 0 checks without sending anything). An id that is not
 * a process id counts as alive: the caller then waits, rather than taking over what may be in use. */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}
