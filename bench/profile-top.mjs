#!/usr/bin/env node
// The top self-time frames of a V8 CPU profile (node --cpu-prof), grouped by function and
// file, plus the share of idle, GC and each package; or, for an allocation profile
// (bench/alloc-profile.mjs, node --heap-prof), the frames that allocated the most bytes.
// Usage: node bench/profile-top.mjs <file.cpuprofile|file.heapprofile> [n]
import { readFileSync } from 'node:fs';

const [file, count = '10'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-top.mjs <file.cpuprofile> [n]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const heap = 'head' in profile;
// A heap profile is a tree of nodes, each with the bytes sampled in it (selfSize).
const nodes = [];
if (heap)
  for (const stack = [profile.head]; stack.length; ) {
    const node = stack.pop();
    nodes.push(node);
    stack.push(...node.children);
  }
const byId = new Map((heap ? nodes : profile.nodes).map((n) => [n.id, n]));
const self = new Map();
if (heap) for (const node of nodes) self.set(node.id, node.selfSize);
else
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
const total = [...self.values()].reduce((a, b) => a + b, 0);
const frames = new Map();
const packages = new Map();
for (const [id, us] of self) {
  const { callFrame } = byId.get(id);
  const url = callFrame.url.replace(/^file:\/\//, '');
  const where = url.includes('node_modules/')
    ? url.slice(url.lastIndexOf('node_modules/') + 13)
    : url.replace(/^.*\/(apps|packages)\//, '$1/');
  const key = `${callFrame.functionName || '(anonymous)'}  ${where}:${callFrame.lineNumber + 1}`;
  frames.set(key, (frames.get(key) ?? 0) + us);
  const pkg = url.includes('node_modules/')
    ? url
        .slice(url.lastIndexOf('node_modules/') + 13)
        .split('/')
        .slice(0, url.includes('node_modules/@') ? 2 : 1)
        .join('/')
    : url.includes('/apps/') || url.includes('/packages/')
      ? 'conveyor'
      : url.startsWith('node:') || url === ''
        ? callFrame.functionName.startsWith('(')
          ? callFrame.functionName
          : 'node'
        : 'other';
  packages.set(pkg, (packages.get(pkg) ?? 0) + us);
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
console.log(
  heap
    ? `${file}: ${(total / 2 ** 20).toFixed(0)} MiB allocated (sampled)`
    : `${file}: ${(total / 1e6).toFixed(1)} s sampled`,
);
console.log('by package:');
for (const [pkg, us] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, 12))
  console.log(`  ${pct(us)}  ${pkg}`);
console.log(`top ${count} ${heap ? 'allocating' : 'self-time'} frames:`);
for (const [key, us] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, Number(count)))
  console.log(`  ${pct(us)}  ${key}`);
