// A lock in one Int32 word of shared memory, for the threads of one process (the HTTP thread, the
// processing thread, the SQLite writer). A waiter sleeps on the word (a futex) and wakes the moment the
// holder lets go. A holder that has not let go after `patienceMs` is taken to be gone — worker.terminate()
// can stop a thread anywhere, inside a section too — and the waiter goes ahead.
export function sharedLock(words: Int32Array, index: number, patienceMs: number): <T>(section: () => T) => T {
  // Memory of one thread's own is never contended: no lock to take.
  if (!(words.buffer instanceof SharedArrayBuffer)) return (section) => section();
  return (section) => {
    const deadline = performance.now() + patienceMs;
    while (Atomics.compareExchange(words, index, 0, 1) !== 0) {
      const left = deadline - performance.now();
      if (left <= 0) break; // take over: the word is already 1, the release below frees it
      Atomics.wait(words, index, 1, Math.min(left, 50));
    }
    try {
      return section();
    } finally {
      Atomics.store(words, index, 0);
      Atomics.notify(words, index, 1);
    }
  };
}
