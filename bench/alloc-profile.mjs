// What a process's garbage is made of: V8's sampling heap profiler, keeping the samples of
// objects the GC already collected (node --heap-prof keeps only the live ones). Preload it:
//   node --import ./bench/alloc-profile.mjs apps/worker/dist/main.js
// On exit it writes ALLOC_PROFILE_DIR/<pid>.heapprofile (default /tmp); read it with
// node bench/profile-top.mjs <file.heapprofile>.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const session = new Session();
session.connect();
session.post('HeapProfiler.startSampling', {
  samplingInterval: Number(process.env.ALLOC_PROFILE_INTERVAL ?? 16384),
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
process.on('exit', () => {
  // An in-thread inspector session answers synchronously, so this runs to the end in 'exit'.
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error) return console.error('alloc-profile:', error.message);
    const file = join(process.env.ALLOC_PROFILE_DIR ?? '/tmp', `${process.pid}.heapprofile`);
    writeFileSync(file, JSON.stringify(result.profile));
  });
});
